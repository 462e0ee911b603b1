"""Reads of the referral programme: counts for the preference page, GDPR sections, staff analytics."""

from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth

from referrals.models import MilestoneReward, Referral, ReferralVisit
from subscribers.models import Subscriber, Subscription


def credited_count(*, referrer: Subscriber) -> int:
    return Referral.objects.filter(referrer=referrer, status=Referral.Status.CREDITED).count()


def pending_reward_ids() -> list[int]:
    pending = MilestoneReward.objects.filter(status=MilestoneReward.Status.PENDING)
    return list(pending.order_by("pk").values_list("pk", flat=True))


@dataclass(frozen=True)
class RewardCode:
    code: str
    offer_name: str
    expires_at: object
    offer_id: int
    milestone: int


def reward_codes(*, referrer: Subscriber) -> list[RewardCode]:
    """The codes the referrer's milestones gave them, newest first."""
    rewards = (
        MilestoneReward.objects.filter(
            referrer=referrer, status=MilestoneReward.Status.GIVEN, coupon_assignment__isnull=False
        )
        .select_related("milestone", "coupon_assignment__coupon__offer")
        .order_by("-given_at", "-pk")
    )
    return [
        RewardCode(
            code=reward.coupon_assignment.coupon.code,
            offer_name=reward.coupon_assignment.coupon.offer.name,
            expires_at=reward.coupon_assignment.coupon.offer.expires_at,
            offer_id=reward.coupon_assignment.coupon.offer_id,
            milestone=reward.milestone.referrals,
        )
        for reward in rewards
    ]


def has_pending_reward(*, referrer: Subscriber) -> bool:
    return MilestoneReward.objects.filter(referrer=referrer, status=MilestoneReward.Status.PENDING).exists()


def latest_reward_code(*, public_id) -> str:
    """The code of the referrer's newest given coupon reward, or "" (the mail merge tag)."""
    code = (
        MilestoneReward.objects.filter(
            referrer__public_id=public_id, status=MilestoneReward.Status.GIVEN, coupon_assignment__isnull=False
        )
        .order_by("-given_at", "-pk")
        .values_list("coupon_assignment__coupon__code", flat=True)
        .first()
    )
    return code or ""


def _iso(value):
    return value.isoformat() if value else None


def subscriber_referrals_export(subscriber: Subscriber) -> tuple[str, object]:
    """GDPR section: the referrals a person made (without the invitees' addresses: those are other
    people's data), the one they came through (without the referrer's), and their rewards."""
    made = Referral.objects.filter(referrer=subscriber).select_related("mailing_list").order_by("pk")
    received = Referral.objects.filter(invitee=subscriber).select_related("mailing_list").order_by("pk")

    def row(referral):
        return {
            "list": referral.mailing_list.name,
            "status": referral.status,
            "reason": referral.reason,
            "signed_up_at": _iso(referral.created_at),
            "confirmed_at": _iso(referral.confirmed_at),
            "credited_at": _iso(referral.credited_at),
            "revoked_at": _iso(referral.revoked_at),
        }

    rewards = (
        MilestoneReward.objects.filter(referrer=subscriber)
        .select_related("milestone", "coupon_assignment__coupon")
        .order_by("pk")
    )
    return "referrals", {
        "made": [row(referral) for referral in made],
        "received": [row(referral) for referral in received],
        "rewards": [
            {
                "milestone": reward.milestone.referrals,
                "reward": reward.milestone.reward,
                "granted_at": _iso(reward.granted_at),
                "status": reward.status,
                "given_at": _iso(reward.given_at),
                "code": reward.coupon_assignment.coupon.code if reward.coupon_assignment else None,
            }
            for reward in rewards
        ],
    }


@dataclass(frozen=True)
class Funnel:
    referrers: int  # people whose link was visited
    visits: int
    signups: int
    confirmations: int
    credits: int  # credited now (revoked ones not)
    rejected: int
    revoked: int


def referral_funnel(*, mailing_list=None) -> Funnel:
    visits = ReferralVisit.objects.all()
    referrals = Referral.objects.all()
    if mailing_list is not None:
        visits = visits.filter(mailing_list=mailing_list)
        referrals = referrals.filter(mailing_list=mailing_list)
    visit_figures = visits.aggregate(referrers=Count("referrer", distinct=True), visits=Sum("visits"))
    figures = referrals.aggregate(
        signups=Count("pk"),
        confirmations=Count("pk", filter=Q(confirmed_at__isnull=False)),
        credits=Count("pk", filter=Q(status=Referral.Status.CREDITED)),
        rejected=Count("pk", filter=Q(status=Referral.Status.REJECTED)),
        revoked=Count("pk", filter=Q(status=Referral.Status.REVOKED)),
    )
    return Funnel(referrers=visit_figures["referrers"] or 0, visits=visit_figures["visits"] or 0, **figures)


def top_referrers(*, mailing_list=None, limit: int = 20) -> list[dict]:
    """Referrers by credited referrals: id, address, credited, pending, rejected and revoked."""
    referrals = Referral.objects.exclude(referrer=None)
    if mailing_list is not None:
        referrals = referrals.filter(mailing_list=mailing_list)
    rows = (
        referrals.values("referrer_id", "referrer__email")
        .annotate(
            credited=Count("pk", filter=Q(status=Referral.Status.CREDITED)),
            pending=Count("pk", filter=Q(status=Referral.Status.PENDING)),
            rejected=Count("pk", filter=Q(status=Referral.Status.REJECTED)),
            revoked=Count("pk", filter=Q(status=Referral.Status.REVOKED)),
        )
        .filter(credited__gt=0)
        .order_by("-credited", "referrer_id")[:limit]
    )
    return list(rows)


def _per_month(queryset) -> dict:
    """{first day of the month: rows} by ``confirmed_at``, in the site's time zone."""
    months = queryset.annotate(month=TruncMonth("confirmed_at")).values("month").annotate(count=Count("pk"))
    return {row["month"].date(): row["count"] for row in months.order_by()}


def referral_growth_share(*, mailing_list=None, months: int = 12) -> list[dict]:
    """Per month (newest first): confirmed subscriptions, those that came through a credited
    referral, and the referral share in per cent (one decimal, as a string)."""
    confirmed = Subscription.objects.exclude(confirmed_at=None)
    credited = Referral.objects.filter(status=Referral.Status.CREDITED)
    if mailing_list is not None:
        confirmed = confirmed.filter(mailing_list=mailing_list)
        credited = credited.filter(mailing_list=mailing_list)
    by_month, referred = _per_month(confirmed), _per_month(credited)
    rows = []
    for month in sorted(by_month.keys() | referred.keys(), reverse=True)[:months]:
        total, through = by_month.get(month, 0), referred.get(month, 0)
        share = f"{through * 1000 // total / 10:.1f}" if total else "0.0"
        rows.append({"month": month, "confirmed": total, "referred": through, "share": share})
    return rows
