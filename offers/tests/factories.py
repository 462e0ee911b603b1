from datetime import timedelta

import factory
from django.utils import timezone

from offers.models import Coupon, Offer


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
