"""Reads for the analytics pages and the GDPR export.

Figures come from the hourly counters, never from scanning events, so a campaign page costs a
few small queries however many events it had. Human figures by default; ``machines=True`` adds
the machine opens and clicks to the totals (they are always available separately as well).

About unique figures: only subscribers tracked individually can be counted once; anonymous
readers add to totals (``anonymous_*``) but cannot be told apart. ``estimated_openers`` and
``estimated_clickers`` extrapolate the anonymous part with the identified readers' opens per
opener, and say so by their name.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from campaigns.models import Article, Campaign, Delivery
from subscribers.models import Subscriber
from tracking.models import ArticleHourStats, CampaignHourStats, DeliveryReport, Event, LinkHourStats, TrackedLink

OPEN_COUNTS = ("opens", "machine_opens", "unique_opens", "anonymous_opens")
CLICK_COUNTS = ("clicks", "machine_clicks", "unique_clicks", "anonymous_clicks")


def _estimate(unique: int, total: int, anonymous: int) -> int:
    """Unique people behind ``total`` human events, of which ``anonymous`` cannot be told apart."""
    identified = total - anonymous
    if not anonymous:
        return unique
    if identified <= 0 or not unique:
        return unique + anonymous  # nothing to go by: assume one event per person
    return unique + round(anonymous * unique / identified)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Funnel:
    sent: int
    delivered: int
    bounced: int
    soft_bounced: int
    complained: int
    unsubscribed: int
    opens: int
    machine_opens: int
    unique_opens: int
    anonymous_opens: int
    estimated_openers: int
    clicks: int
    machine_clicks: int
    unique_clicks: int
    anonymous_clicks: int
    estimated_clickers: int

    @property
    def open_rate(self) -> float | None:
        return _rate(self.estimated_openers, self.delivered)

    @property
    def click_rate(self) -> float | None:
        return _rate(self.estimated_clickers, self.delivered)

    @property
    def click_to_open_rate(self) -> float | None:
        return _rate(self.estimated_clickers, self.estimated_openers)


def campaign_funnel(*, campaign: Campaign, machines: bool = False) -> Funnel:
    """Sent → delivered → opened → clicked, plus bounces, complaints and ESP unsubscribes.

    Delivered is what the ESP reported as delivered when it reports that at all, else sent
    minus bounced and rejected.
    """
    sent = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()
    reports = dict(
        DeliveryReport.objects.filter(campaign=campaign)
        .values("kind")
        .annotate(deliveries=Count("delivery", distinct=True))
        .values_list("kind", "deliveries")
    )
    Kind = DeliveryReport.Kind
    undelivered = reports.get(Kind.BOUNCED, 0) + reports.get(Kind.REJECTED, 0)
    delivered = reports.get(Kind.DELIVERED) or max(0, sent - undelivered)
    totals = CampaignHourStats.objects.filter(campaign=campaign).aggregate(
        **{name: Coalesce(Sum(name), 0) for name in (*OPEN_COUNTS, *CLICK_COUNTS)}
    )
    opens, clicks = totals["opens"], totals["clicks"]
    return Funnel(
        sent=sent,
        delivered=delivered,
        bounced=reports.get(Kind.BOUNCED, 0),
        soft_bounced=reports.get(Kind.SOFT_BOUNCED, 0),
        complained=reports.get(Kind.COMPLAINED, 0),
        unsubscribed=reports.get(Kind.UNSUBSCRIBED, 0),
        opens=opens + (totals["machine_opens"] if machines else 0),
        machine_opens=totals["machine_opens"],
        unique_opens=totals["unique_opens"],
        anonymous_opens=totals["anonymous_opens"],
        estimated_openers=_estimate(totals["unique_opens"], opens, totals["anonymous_opens"]),
        clicks=clicks + (totals["machine_clicks"] if machines else 0),
        machine_clicks=totals["machine_clicks"],
        unique_clicks=totals["unique_clicks"],
        anonymous_clicks=totals["anonymous_clicks"],
        estimated_clickers=_estimate(totals["unique_clicks"], clicks, totals["anonymous_clicks"]),
    )


@dataclass(frozen=True)
class Hour:
    hour: datetime
    opens: int
    unique_opens: int
    machine_opens: int
    clicks: int
    unique_clicks: int
    machine_clicks: int


def campaign_hours(*, campaign: Campaign, machines: bool = False) -> list[Hour]:
    """Opens and clicks per hour (UTC buckets, aware datetimes), only hours with events."""
    rows = CampaignHourStats.objects.filter(campaign=campaign).order_by("hour")
    return [
        Hour(
            hour=row.hour,
            opens=row.opens + (row.machine_opens if machines else 0),
            unique_opens=row.unique_opens,
            machine_opens=row.machine_opens,
            clicks=row.clicks + (row.machine_clicks if machines else 0),
            unique_clicks=row.unique_clicks,
            machine_clicks=row.machine_clicks,
        )
        for row in rows
    ]


@dataclass(frozen=True)
class ArticleFigures:
    article_id: int
    public_id: str
    headline: str
    position: int
    clicks: int
    unique_clicks: int
    machine_clicks: int
    share: float | None  # of all (human, or all with machines) clicks of the campaign
    rank: int


def _ranked(rows: list[dict], total: int) -> list[dict]:
    order = sorted(range(len(rows)), key=lambda index: (-rows[index]["clicks"], index))
    rank = 0
    previous = None
    for place, index in enumerate(order, start=1):
        if rows[index]["clicks"] != previous:
            rank, previous = place, rows[index]["clicks"]
        rows[index]["rank"] = rank
        rows[index]["share"] = _rate(rows[index]["clicks"], total)
    return rows


def campaign_articles(*, campaign: Campaign, machines: bool = False) -> list[ArticleFigures]:
    """Every article of the campaign in layout order, with clicks, unique clickers, share and rank."""
    sums = {
        row["article"]: row
        for row in ArticleHourStats.objects.filter(campaign=campaign)
        .values("article")
        .annotate(**{name: Sum(name) for name in CLICK_COUNTS})
    }
    rows = []
    for article in Article.objects.filter(campaign=campaign).order_by("position", "pk"):
        found = sums.get(article.pk, {})
        human, machine = found.get("clicks") or 0, found.get("machine_clicks") or 0
        rows.append(
            {
                "article_id": article.pk,
                "public_id": str(article.public_id),
                "headline": article.headline,
                "position": article.position,
                "clicks": human + (machine if machines else 0),
                "unique_clicks": found.get("unique_clicks") or 0,
                "machine_clicks": machine,
            }
        )
    total = sum(row["clicks"] for row in rows)
    return [ArticleFigures(**row) for row in _ranked(rows, total)]


@dataclass(frozen=True)
class LinkFigures:
    link_id: int
    url: str
    kind: str
    article_id: int | None
    article_position: int
    clicks: int
    unique_clicks: int
    machine_clicks: int
    share: float | None
    rank: int


def campaign_links(*, campaign: Campaign, machines: bool = False) -> list[LinkFigures]:
    """Every tracked link of the campaign (in mail order) with its clicks."""
    sums = {
        row["link"]: row
        for row in LinkHourStats.objects.filter(campaign=campaign)
        .values("link")
        .annotate(**{name: Sum(name) for name in CLICK_COUNTS})
    }
    rows = []
    for link in TrackedLink.objects.filter(campaign=campaign).order_by("pk"):
        found = sums.get(link.pk, {})
        human, machine = found.get("clicks") or 0, found.get("machine_clicks") or 0
        rows.append(
            {
                "link_id": link.pk,
                "url": link.url,
                "kind": link.kind,
                "article_id": link.article_id,
                "article_position": link.position,
                "clicks": human + (machine if machines else 0),
                "unique_clicks": found.get("unique_clicks") or 0,
                "machine_clicks": machine,
            }
        )
    total = sum(row["clicks"] for row in rows)
    return [LinkFigures(**row) for row in _ranked(rows, total)]


def machine_share(*, campaign: Campaign) -> dict[str, int]:
    """Machine events by reason, for the "machine vs human" panel (reads events: call it per page, not per row)."""
    return dict(
        Event.objects.filter(campaign=campaign, is_machine=True)
        .values("machine_reason")
        .annotate(events=Count("pk"))
        .values_list("machine_reason", "events")
    )


def subscriber_events_export(subscriber: Subscriber) -> tuple[str, list[dict]]:
    """The opens and clicks stored for a subscriber, for their GDPR export (consented tracking only)."""
    events = (
        Event.objects.filter(delivery__subscriber=subscriber)
        .select_related("campaign", "link")
        .order_by("occurred_at", "pk")
    )
    return "tracking_events", [
        {
            "campaign": event.campaign.name,
            "kind": event.kind,
            "occurred_at": event.occurred_at.isoformat(),
            "link": event.link.url if event.link else None,
            "user_agent": event.user_agent,
            "machine": event.is_machine,
        }
        for event in events
    ]
