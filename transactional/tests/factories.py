import factory

from transactional.models import TransactionalMessage, TransactionalTemplate


class TransactionalTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TransactionalTemplate

    slug = factory.Sequence(lambda n: f"order-confirmation-{n}")
    name = "Bestellbestätigung"
    language = "de"
    subject = "Deine Bestellung {{ data.order_number }}"
    preheader = "Danke für deinen Einkauf"
    headline = 'Hallo {{ subscriber.first_name|default:"du" }}!'
    body = "Wir haben deine Bestellung **{{ data.order_number }}** über {{ data.total }} € erhalten."
    from_name = "Kanal Shop"
    from_email = "shop@example.org"


class TransactionalMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TransactionalMessage

    template = factory.SubFactory(TransactionalTemplateFactory)
    email = factory.Sequence(lambda n: f"buyer{n}@example.net")
    data = factory.LazyFunction(lambda: {"order_number": "A-1001", "total": 42.5})
