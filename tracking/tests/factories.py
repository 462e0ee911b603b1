import factory
from django.utils import timezone

from campaigns.models import Delivery
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.tests.factories import SubscriberFactory

__all__ = ["ArticleFactory", "CampaignFactory", "DeliveryFactory", "SubscriberFactory"]


class DeliveryFactory(factory.django.DjangoModelFactory):
    """A delivery that went out an hour ago, to a subscriber who agreed to tracking."""

    class Meta:
        model = Delivery

    campaign = factory.SubFactory(CampaignFactory)
    subscriber = factory.SubFactory(SubscriberFactory, tracking_consent=True)
    status = Delivery.Status.SENT
    sent_at = factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(hours=1))
