from datetime import timedelta

import factory
from django.utils import timezone

from campaigns.models import Delivery
from offers.models import Coupon, CouponAssignment, Offer


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer

    name = factory.Sequence(lambda n: f"Frühlingsrabatt {n}")
    landing_url = "https://shop.example.com/fruehling"
    terms = "10 % auf alles, einmal je Kunde."
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=14))


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    offer = factory.SubFactory(OfferFactory)
    code = factory.Sequence(lambda n: f"CODE-{n:06d}")


def given_code(offer, subscriber, *, campaign=None, ago=timedelta(hours=1), status=None) -> CouponAssignment:
    """A pool code of ``offer`` given to ``subscriber`` with a campaign's mail ``ago`` (as the sending
    path assigns it; the mail sent unless ``status`` says otherwise)."""
    from tracking.tests.factories import CampaignFactory, DeliveryFactory

    when = timezone.now() - ago
    delivery = DeliveryFactory(
        campaign=campaign or CampaignFactory(),
        subscriber=subscriber,
        status=status or Delivery.Status.SENT,
        sent_at=when,
    )
    return CouponAssignment.objects.create(coupon=CouponFactory(offer=offer), delivery=delivery, assigned_at=when)
