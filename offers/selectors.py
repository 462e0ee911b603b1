"""Reads about offers: codes left in a pool, an offer's figures, a subscriber's redemptions."""

from django.db.models import Count, Exists, OuterRef, Q, Sum

from offers.models import Coupon, CouponAssignment, Offer, Redemption


def unused_coupons(*, offer: Offer):
    """Pool codes neither given to a delivery nor redeemed."""
    return (
        Coupon.objects.filter(offer=offer)
        .exclude(Exists(CouponAssignment.objects.filter(coupon=OuterRef("pk"))))
        .exclude(Exists(Redemption.objects.filter(coupon=OuterRef("pk"))))
    )


def codes_left(*, offer: Offer) -> int | None:
    """How many codes the pool can still hand out; None for a shared code (it never runs out)."""
    if offer.code_source == Offer.CodeSource.SHARED:
        return None
    return unused_coupons(offer=offer).count()


def offer_figures(*, offer: Offer) -> dict:
    """Codes in the pool, left, redeemed, and the order values by currency."""
    redeemed = Redemption.objects.filter(offer=offer)
    values = (
        redeemed.exclude(order_value=None)
        .values("currency")
        .annotate(orders=Count("pk"), total=Sum("order_value"))
        .order_by("currency")
    )
    return {
        "codes": offer.coupons.count(),
        "left": codes_left(offer=offer),
        "redeemed": redeemed.count(),
        "currencies": list(values),
    }


def offers_below_threshold_or_warned():
    """Pool offers that may need a low-pool mail or the end of one (threshold set, or warned before)."""
    return Offer.objects.filter(code_source=Offer.CodeSource.POOL).filter(
        Q(low_pool_threshold__gt=0) | Q(low_pool_warned_at__isnull=False)
    )


def subscriber_redemptions_export(subscriber) -> tuple[str, list[dict]]:
    """The GDPR export section: every redemption Kanal connects to this person."""
    rows = Redemption.objects.filter(subscriber=subscriber).select_related("offer", "coupon").order_by("redeemed_at")
    return "redemptions", [
        {
            "offer": redemption.offer.name,
            "code": redemption.coupon.code,
            "redeemed_at": redemption.redeemed_at.isoformat(),
            "order": redemption.order_ref,
            "order_value": str(redemption.order_value) if redemption.order_value is not None else None,
            "currency": redemption.currency,
            "source": redemption.source,
        }
        for redemption in rows
    ]
