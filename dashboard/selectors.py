"""Reads for the dashboard. Dashboard is the top layer: it reads every app's own selectors
rather than repeating their figures, so a rate here is the rate on the analytics pages."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from automations.models import Automation
from campaigns.models import Campaign, Delivery
from campaigns.services.sending import campaign_progress
from dashboard.tasks import WORKER_HEARTBEAT
from newsletter_site import heartbeat
from offers import selectors as offer_selectors
from offers.models import Offer
from subscribers.models import Subscription
from surveys.selectors import campaign_survey_counts, survey_campaign_comparison
from tracking.selectors import campaign_funnels, subscription_flow
from tracking.tasks import BATCHER_HEARTBEAT

RECENT_CAMPAIGNS = 5
NPS_POINTS = 8
GROWTH_DAYS = 30
RATE_WINDOW_DAYS = 30
# Mailbox providers' limits (Google's and Yahoo's sender rules): complaints above 0.1 % hurt
# delivery, above 0.3 % mail is rejected; hard bounces above 2 % mark a list as unkept.
COMPLAINT_WARNING = Decimal("0.001")
COMPLAINT_DANGER = Decimal("0.003")
BOUNCE_WARNING = Decimal("0.02")
# Which beat entry drives each heartbeat (its interval decides when the heartbeat is stale).
HEARTBEATS = {
    WORKER_HEARTBEAT: "dashboard-worker-heartbeat",
    BATCHER_HEARTBEAT: "tracking-process-events",
}
# The batcher runs every few seconds, but one run may drain a large queue for longer: stale not
# before this, whatever its interval.
MIN_STALE_SECONDS = 60


def sends_in_progress() -> list[tuple[Campaign, dict]]:
    """Newsletters sending or paused, with the progress their campaign page shows."""
    campaigns = Campaign.objects.filter(
        kind=Campaign.Kind.NEWSLETTER, status__in=(Campaign.Status.SENDING, Campaign.Status.PAUSED)
    ).order_by("started_at", "pk")
    return [(campaign, campaign_progress(campaign=campaign)) for campaign in campaigns]


@dataclass(frozen=True)
class CampaignRates:
    campaign: Campaign
    delivered: int
    open_rate: float | None
    click_rate: float | None
    answers: int
    answer_rate: float | None


def recent_campaigns(*, limit: int = RECENT_CAMPAIGNS) -> list[CampaignRates]:
    """The newest newsletters that went out, with human open, click and answer rates (machine
    opens and clicks left out, as on the analytics pages; answers come only from people)."""
    campaigns = list(
        Campaign.objects.filter(kind=Campaign.Kind.NEWSLETTER, status__in=Campaign.ARCHIVED_STATUSES)
        .exclude(started_at=None)
        .order_by("-started_at", "-pk")[:limit]
    )
    funnels = campaign_funnels(campaign_ids=[campaign.pk for campaign in campaigns])
    rows = []
    for campaign in campaigns:
        funnel = funnels[campaign.pk]
        answers = sum(count for _survey, count in campaign_survey_counts(campaign=campaign))
        rows.append(
            CampaignRates(
                campaign=campaign,
                delivered=funnel.delivered,
                open_rate=funnel.open_rate,
                click_rate=funnel.click_rate,
                answers=answers,
                answer_rate=answers / funnel.delivered if funnel.delivered else None,
            )
        )
    return rows


@dataclass(frozen=True)
class Growth:
    days: int
    signups: int
    confirmations: int
    unsubscribes: int
    active: int

    @property
    def net(self) -> int:
        return self.confirmations - self.unsubscribes


def list_growth(*, days: int = GROWTH_DAYS, now: datetime | None = None) -> Growth:
    """Subscriptions over the last ``days`` (all lists, one subscription per list and person), as
    the audience page counts them per month."""
    now = now or timezone.now()
    found = Subscription.objects.aggregate(
        **subscription_flow(start=now - timedelta(days=days), end=now + timedelta(microseconds=1)),
        active=Count("pk", filter=Q(confirmed_at__isnull=False, unsubscribed_at__isnull=True)),
    )
    return Growth(days=days, **found)


def nps_trend(*, points: int = NPS_POINTS) -> list[dict]:
    """The NPS of the newest campaign surveys that have NPS answers, oldest first."""
    rows = [row for row in survey_campaign_comparison() if row["nps"] is not None][:points]
    return list(reversed(rows))


def active_automations() -> int:
    return Automation.objects.filter(status=Automation.Status.ACTIVE).count()


def active_offers(*, now: datetime | None = None) -> int:
    return Offer.objects.filter(expires_at__gt=now or timezone.now()).count()


@dataclass(frozen=True)
class Rates:
    sent: int
    delivered: int
    bounced: int
    complained: int

    @property
    def bounce_rate(self) -> Decimal | None:
        return Decimal(self.bounced) / self.sent if self.sent else None

    @property
    def complaint_rate(self) -> Decimal | None:
        return Decimal(self.complained) / self.delivered if self.delivered else None


def delivery_rates(*, days: int = RATE_WINDOW_DAYS, now: datetime | None = None) -> Rates:
    """Bounces per sent mail and spam complaints per delivered mail, over the campaigns (newsletters
    and automation mails) that sent in the last ``days``: the ESP reports tracking stores, read
    through the analytics funnel."""
    since = (now or timezone.now()) - timedelta(days=days)
    campaign_ids = list(
        Delivery.objects.filter(status=Delivery.Status.SENT, sent_at__gte=since)
        .order_by()
        .values_list("campaign", flat=True)
        .distinct()
    )
    funnels = campaign_funnels(campaign_ids=campaign_ids).values()
    return Rates(
        sent=sum(funnel.sent for funnel in funnels),
        delivered=sum(funnel.delivered for funnel in funnels),
        bounced=sum(funnel.bounced for funnel in funnels),
        complained=sum(funnel.complained for funnel in funnels),
    )


def offers_low(*, now: datetime | None = None) -> list[tuple[Offer, int]]:
    """Running pool offers with fewer codes left than their threshold (the low-pool mail's rule)."""
    low = []
    for offer in offer_selectors.offers_below_threshold_or_warned().filter(expires_at__gt=now or timezone.now()):
        left = offer_selectors.codes_left(offer=offer)
        if offer.low_pool_threshold > 0 and left is not None and left < offer.low_pool_threshold:
            low.append((offer, left))
    return low


@dataclass(frozen=True)
class Heartbeat:
    name: str
    last: datetime | None
    stale_after: timedelta

    @property
    def stale(self) -> bool:
        return self.last is None or timezone.now() - self.last > self.stale_after


def heartbeats() -> list[Heartbeat]:
    """The worker's and the batcher's heartbeats; stale after two intervals of their beat entry."""
    found = []
    for name, schedule_name in HEARTBEATS.items():
        seconds = max(2 * heartbeat.beat_interval(schedule_name), MIN_STALE_SECONDS)
        found.append(Heartbeat(name=name, last=heartbeat.last_beat(name), stale_after=timedelta(seconds=seconds)))
    return found


@dataclass(frozen=True)
class Alert:
    level: str  # "warning" or "error", the admin's message classes
    message: str
    url: str = ""


HEARTBEAT_LABELS = {
    WORKER_HEARTBEAT: _("No worker is running (or beat is not): mails, imports and automations wait."),
    BATCHER_HEARTBEAT: _("The tracking batcher is not running: opens and clicks are not counted."),
}


def _percent(rate: Decimal) -> str:
    return number_format(rate * 100, 2)


def dashboard_warnings(*, may_view_offers: bool, now: datetime | None = None) -> list[Alert]:
    """What needs someone's attention: delivery reputation, running processes, empty pools."""
    found = []
    rates = delivery_rates(now=now)
    complaint_rate = rates.complaint_rate
    if complaint_rate is not None and complaint_rate > COMPLAINT_WARNING:
        found.append(
            Alert(
                "error" if complaint_rate > COMPLAINT_DANGER else "warning",
                _(
                    "Spam complaint rate %(rate)s %% in the last %(days)s days (%(complaints)s of %(delivered)s "
                    "delivered): above 0.1 %% mailbox providers file mail as spam, above 0.3 %% they reject it."
                )
                % {
                    "rate": _percent(complaint_rate),
                    "days": RATE_WINDOW_DAYS,
                    "complaints": rates.complained,
                    "delivered": rates.delivered,
                },
            )
        )
    bounce_rate = rates.bounce_rate
    if bounce_rate is not None and bounce_rate > BOUNCE_WARNING:
        found.append(
            Alert(
                "warning",
                _(
                    "Bounce rate %(rate)s %% in the last %(days)s days (%(bounces)s of %(sent)s sent): above 2 %% "
                    "the list needs cleaning."
                )
                % {
                    "rate": _percent(bounce_rate),
                    "days": RATE_WINDOW_DAYS,
                    "bounces": rates.bounced,
                    "sent": rates.sent,
                },
            )
        )
    for beat in heartbeats():
        if beat.stale:
            message = HEARTBEAT_LABELS[beat.name]
            if beat.last is not None:
                message = _("%(problem)s Last seen %(when)s.") % {
                    "problem": message,
                    "when": date_format(timezone.localtime(beat.last), "DATETIME_FORMAT"),
                }
            found.append(Alert("error", str(message)))
    if may_view_offers:
        for offer, left in offers_low(now=now):
            found.append(
                Alert(
                    "warning",
                    ngettext(
                        "The code pool of the offer “%(offer)s” is running low: %(left)s code left.",
                        "The code pool of the offer “%(offer)s” is running low: %(left)s codes left.",
                        left,
                    )
                    % {"offer": offer.name, "left": left},
                    reverse("admin:offers_offer_change", args=[offer.pk]),
                )
            )
    return found
