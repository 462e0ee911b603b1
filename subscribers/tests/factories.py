import factory

from subscribers.models import ConsentText, MailingList, Subscriber, Subscription, Tag


class MailingListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MailingList

    name = factory.Sequence(lambda n: f"Newsletter {n}")
    slug = factory.Sequence(lambda n: f"newsletter-{n}")
    public_description = "Monthly news."
    language = "de"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    email = factory.Sequence(lambda n: f"reader{n}@example.org")
    first_name = "Erika"
    last_name = "Mustermann"
    language = "de"
    status = Subscriber.Status.ACTIVE


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    subscriber = factory.SubFactory(SubscriberFactory)
    mailing_list = factory.SubFactory(MailingListFactory)
    status = Subscription.Status.ACTIVE


class ConsentTextFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentText

    version = factory.Sequence(lambda n: n + 1)
    language = "de"
    text = "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit per Link."
