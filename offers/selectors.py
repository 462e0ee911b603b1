"""Reads about offers: codes left in a pool, an offer's figures, a campaign's offer figures, a
subscriber's redemptions."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from audience.models import Segment
from audience.selectors import segment_members, segment_problems
from campaigns.models import Delivery
from offers.models import Coupon, CouponAssignment, Offer, Redemption
from subscribers.models import Subscriber

# Saved segments the campaign's offer table breaks down by (by name): each costs three queries.
MAX_SEGMENTS = 20


def unused_coupons(*, offer: Offer):
    """Pool codes neither given to a delivery nor redeemed."""
    return (
        Coupon.objects.filter(offer=offer)
        .exclude(Exists(CouponAssignment.objects.filter(coupon=OuterRef("pk"))))
        .exclude(Exists(Redemption.objects.filter(coupon=OuterRef("pk"))))
    )


def codes_given(*, offer_id: int) -> QuerySet[CouponAssignment]:
    """Assignments of the offer's pool codes whose mail went out: the code reached its person."""
    return CouponAssignment.objects.filter(coupon__offer_id=offer_id, delivery__status=Delivery.Status.SENT)


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
    rows = (
        Redemption.objects.filter(subscriber=subscriber)
        .select_related("offer", "coupon", "delivery__campaign")
        .order_by("redeemed_at")
    )
    return "redemptions", [
        {
            "offer": redemption.offer.name,
            "code": redemption.coupon.code,
            "redeemed_at": redemption.redeemed_at.isoformat(),
            "order": redemption.order_ref,
            "order_value": str(redemption.order_value) if redemption.order_value is not None else None,
            "currency": redemption.currency,
            "source": redemption.source,
            "campaign": redemption.delivery.campaign.name if redemption.delivery else None,
        }
        for redemption in rows
    ]


@dataclass
class CampaignOfferFigures:
    """One offer's codes in one campaign (or in the part of it a segment takes)."""

    offer_id: int
    offer_name: str
    issued: int = 0
    redeemed: int = 0
    # Currency → sum of the reported order values; exact Decimals, never floats.
    values: dict[str, Decimal] = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.redeemed / self.issued if self.issued else None


def campaign_offer_figures(*, campaign, subscribers: QuerySet[Subscriber] | None = None) -> list[CampaignOfferFigures]:
    """Per offer: codes given with the campaign's sent mails, how many of them were redeemed, and
    the order values of those redemptions by currency; only the recipients in ``subscribers`` when
    given. Three queries. A shared code is given to nobody in particular, so it has no figures here.
    """
    given = CouponAssignment.objects.filter(delivery__campaign=campaign, delivery__status=Delivery.Status.SENT)
    redeemed = Redemption.objects.filter(delivery__campaign=campaign, delivery__status=Delivery.Status.SENT)
    if subscribers is not None:
        given = given.filter(delivery__subscriber__in=subscribers.values("pk"))
        redeemed = redeemed.filter(delivery__subscriber__in=subscribers.values("pk"))
    figures: dict[int, CampaignOfferFigures] = {}
    issued = given.values("coupon__offer", "coupon__offer__name").annotate(n=Count("pk")).order_by()
    for row in issued:
        figures[row["coupon__offer"]] = CampaignOfferFigures(
            row["coupon__offer"], row["coupon__offer__name"], issued=row["n"]
        )
    for row in redeemed.values("offer").annotate(n=Count("pk")).order_by():
        if row["offer"] in figures:
            figures[row["offer"]].redeemed = row["n"]
    values = redeemed.exclude(order_value=None).values("offer", "currency").annotate(total=Sum("order_value"))
    for row in values.order_by("currency"):
        if row["offer"] in figures:
            figures[row["offer"]].values[row["currency"]] = Decimal(row["total"]).quantize(Decimal("0.01"))
    return sorted(figures.values(), key=lambda item: (item.offer_name, item.offer_id))


def campaign_offer_figures_by_segment(*, campaign) -> list[tuple[Segment, list[CampaignOfferFigures]]]:
    """``campaign_offer_figures`` for the part of the campaign's recipients each saved segment takes
    today (up to MAX_SEGMENTS, by name; segments with problems are left out). The segment's own
    consent rule holds: someone it cannot judge is no member."""
    found = []
    for segment in Segment.objects.order_by("name", "pk")[:MAX_SEGMENTS]:
        if segment_problems(segment):
            continue
        found.append((segment, campaign_offer_figures(campaign=campaign, subscribers=segment_members(segment))))
    return found


def subscriber_redemptions(*, subscriber) -> QuerySet[Redemption]:
    """A person's redemptions, newest first (the subscriber page)."""
    return Redemption.objects.filter(subscriber=subscriber).select_related("offer", "coupon")
