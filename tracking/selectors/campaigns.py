"""Reads for the campaign analytics pages and the GDPR export.

Figures come from the counters the batcher keeps (per hour, per client, per domain), never from
scanning events, so a campaign page costs a few small queries however many events it had. Two
figures read other tables: mails sent per recipient domain (one grouped query over the
campaign's deliveries, cached) and unsubscribes attributed to a campaign (ended subscriptions).
Human figures by default; ``machines=True`` adds the machine opens and clicks to the totals (they
are always available separately as well).

About unique figures: only subscribers tracked individually can be counted once; anonymous
readers add to totals (``anonymous_*``) but cannot be told apart. ``estimated_openers`` and
``estimated_clickers`` extrapolate the anonymous part with the identified readers' opens per
opener, and say so by their name. A click means the mail was read, so there are never fewer
estimated openers than clickers.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce, Lower, StrIndex, Substr
from django.utils.translation import gettext_lazy as _

from campaigns.models import Article, Campaign, Delivery
from subscribers.models import Subscriber, Subscription
from tracking.models import (
    ArticleHourStats,
    CampaignHourStats,
    ClientStats,
    DeliveryRead,
    DeliveryReport,
    DomainStats,
    Event,
    LinkHourStats,
    TrackedLink,
)

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
    skipped_frequency_cap: int
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
    return campaign_funnels(campaign_ids=[campaign.pk], machines=machines)[campaign.pk]


def campaign_funnels(*, campaign_ids: list[int], machines: bool = False) -> dict[int, Funnel]:
    """``campaign_funnel`` for many campaigns in three grouped queries (the campaign list)."""
    sent, skipped = {}, {}
    for campaign_id, status, count in (
        Delivery.objects.filter(
            campaign_id__in=campaign_ids, status__in=(Delivery.Status.SENT, Delivery.Status.SKIPPED)
        )
        .order_by()
        .values("campaign", "status")
        .annotate(n=Count("pk"))
        .values_list("campaign", "status", "n")
    ):
        (sent if status == Delivery.Status.SENT else skipped)[campaign_id] = count
    reports: dict[int, dict[str, int]] = {pk: {} for pk in campaign_ids}
    for campaign_id, kind, deliveries in (
        DeliveryReport.objects.filter(campaign_id__in=campaign_ids)
        .order_by()
        .values("campaign", "kind")
        .annotate(deliveries=Count("delivery", distinct=True))
        .values_list("campaign", "kind", "deliveries")
    ):
        reports[campaign_id][kind] = deliveries
    counts = (*OPEN_COUNTS, *CLICK_COUNTS)
    totals = {
        row["campaign"]: row
        for row in CampaignHourStats.objects.filter(campaign_id__in=campaign_ids)
        .order_by()
        .values("campaign")
        .annotate(**{name: Coalesce(Sum(name), 0) for name in counts})
    }
    Kind = DeliveryReport.Kind
    funnels = {}
    for pk in campaign_ids:
        found = reports[pk]
        total = totals.get(pk) or dict.fromkeys(counts, 0)
        sent_count = sent.get(pk, 0)
        undelivered = found.get(Kind.BOUNCED, 0) + found.get(Kind.REJECTED, 0)
        opens, clicks = total["opens"], total["clicks"]
        clickers = _estimate(total["unique_clicks"], clicks, total["anonymous_clicks"])
        # A click means the mail was read even when its images (and so the pixel) stayed blocked.
        openers = max(_estimate(total["unique_opens"], opens, total["anonymous_opens"]), clickers)
        funnels[pk] = Funnel(
            sent=sent_count,
            skipped_frequency_cap=skipped.get(pk, 0),
            delivered=found.get(Kind.DELIVERED) or max(0, sent_count - undelivered),
            bounced=found.get(Kind.BOUNCED, 0),
            soft_bounced=found.get(Kind.SOFT_BOUNCED, 0),
            complained=found.get(Kind.COMPLAINED, 0),
            unsubscribed=found.get(Kind.UNSUBSCRIBED, 0),
            opens=opens + (total["machine_opens"] if machines else 0),
            machine_opens=total["machine_opens"],
            unique_opens=total["unique_opens"],
            anonymous_opens=total["anonymous_opens"],
            estimated_openers=openers,
            clicks=clicks + (total["machine_clicks"] if machines else 0),
            machine_clicks=total["machine_clicks"],
            unique_clicks=total["unique_clicks"],
            anonymous_clicks=total["anonymous_clicks"],
            estimated_clickers=clickers,
        )
    return funnels


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
    """Machine events (opens, clicks, honeypot hits) by reason, from the client counters."""
    return dict(
        ClientStats.objects.filter(campaign=campaign)
        .exclude(machine_reason="")
        .order_by()
        .values("machine_reason")
        .annotate(n=Sum("events"))
        .values_list("machine_reason", "n")
    )


@dataclass(frozen=True)
class HumanMachine:
    """People's and machines' share of opens and clicks, and machine events by reason."""

    opens: int
    machine_opens: int
    clicks: int
    machine_clicks: int
    honeypot_hits: int
    reasons: list[tuple[str, str, int]]  # (reason, its label, events)

    @property
    def machine_open_share(self) -> float | None:
        return _rate(self.machine_opens, self.opens + self.machine_opens)

    @property
    def machine_click_share(self) -> float | None:
        return _rate(self.machine_clicks, self.clicks + self.machine_clicks)


def campaign_human_machine(*, campaign: Campaign, funnel: Funnel, machines: bool) -> HumanMachine:
    """``funnel`` as read with ``machines``: its opens and clicks include machine events then."""
    by_reason = machine_share(campaign=campaign)
    labels = dict(Event.MachineReason.choices)
    reasons = sorted(
        ((reason, str(labels.get(reason, reason)), events) for reason, events in by_reason.items()),
        key=lambda row: (-row[2], row[0]),
    )
    return HumanMachine(
        opens=funnel.opens - (funnel.machine_opens if machines else 0),
        machine_opens=funnel.machine_opens,
        clicks=funnel.clicks - (funnel.machine_clicks if machines else 0),
        machine_clicks=funnel.machine_clicks,
        honeypot_hits=by_reason.get(Event.MachineReason.HONEYPOT, 0),
        reasons=reasons,
    )


@dataclass(frozen=True)
class HourRow:
    hour: datetime
    since_sending: int  # whole hours after the campaign started
    opens: int
    machine_opens: int
    clicks: int
    machine_clicks: int


HOURS_SHOWN = 14 * 24


def campaign_hours_since_sending(*, campaign: Campaign, machines: bool = False) -> tuple[list[HourRow], HourRow | None]:
    """Every hour from the first mail to the last event (zeros included, so a chart's time axis is
    even), at most two weeks; what came later is summed up in a second value (None if nothing)."""
    stats = list(CampaignHourStats.objects.filter(campaign=campaign).order_by("hour"))
    start = campaign.started_at or (stats[0].hour if stats else None)
    if start is None:
        return [], None
    start = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    by_hour = {row.hour: row for row in stats}
    end = max([start, *by_hour]) if by_hour else start
    rows, later = [], [0, 0, 0, 0]
    hour, index = start, 0
    limit = start + timedelta(hours=HOURS_SHOWN)
    while hour <= end and hour < limit:
        row = by_hour.get(hour)
        rows.append(_hour_row(hour, index, row, machines))
        hour += timedelta(hours=1)
        index += 1
    for moment, row in by_hour.items():
        if moment >= limit or moment < start:
            extra = _hour_row(moment, 0, row, machines)
            later = [
                a + b
                for a, b in zip(
                    later, (extra.opens, extra.machine_opens, extra.clicks, extra.machine_clicks), strict=True
                )
            ]
    rest = None
    if any(later):
        rest = HourRow(limit, HOURS_SHOWN, *later)
    return rows, rest


def _hour_row(hour: datetime, index: int, row: CampaignHourStats | None, machines: bool) -> HourRow:
    if row is None:
        return HourRow(hour, index, 0, 0, 0, 0)
    return HourRow(
        hour=hour,
        since_sending=index,
        opens=row.opens + (row.machine_opens if machines else 0),
        machine_opens=row.machine_opens,
        clicks=row.clicks + (row.machine_clicks if machines else 0),
        machine_clicks=row.machine_clicks,
    )


@dataclass(frozen=True)
class ClientRow:
    name: str
    opens: int
    clicks: int
    share: float | None  # of all opens in this table


def campaign_clients(*, campaign: Campaign, machines: bool = False) -> dict[str, list[ClientRow]]:
    """Opens and clicks by device, operating system and mail client (people only unless ``machines``)."""
    rows = ClientStats.objects.filter(campaign=campaign, kind__in=[Event.Kind.OPEN, Event.Kind.CLICK])
    if not machines:
        rows = rows.filter(machine_reason="")
    grouped: dict[str, dict[str, list[int]]] = {"device": {}, "os": {}, "client": {}}
    for kind, device, os_family, client, events in rows.order_by().values_list(
        "kind", "device", "os", "client", "events"
    ):
        column = 0 if kind == Event.Kind.OPEN else 1
        for dimension, name in (("device", device), ("os", os_family), ("client", client)):
            counts = grouped[dimension].setdefault(name, [0, 0])
            counts[column] += events
    device_labels = {
        "desktop": _("desktop"),
        "mobile": _("phone"),
        "tablet": _("tablet"),
        "unknown": _("unknown"),
    }
    result = {}
    for dimension, names in grouped.items():
        total_opens = sum(opens for opens, _clicks in names.values())
        ordered = sorted(names.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
        result[dimension] = [
            ClientRow(
                name=str(device_labels.get(name, name)) if dimension == "device" else name,
                opens=opens,
                clicks=clicks,
                share=_rate(opens, total_opens),
            )
            for name, (opens, clicks) in ordered
        ]
    return result


@dataclass(frozen=True)
class DomainRow:
    domain: str
    sent: int
    unique_opens: int
    unique_clicks: int
    opens: int
    clicks: int

    @property
    def open_rate(self) -> float | None:
        """Identified openers per mail sent: a floor, since anonymous readers have no domain."""
        return _rate(self.unique_opens, self.sent)


TOP_DOMAINS = 15
RECIPIENT_CACHE_SECONDS = 3600


def recipient_domains_cache_key(*, campaign_id: int, sent: int) -> str:
    return f"tracking:recipient-domains:{campaign_id}:{sent}"


def campaign_recipient_domains(*, campaign: Campaign) -> dict[str, int]:
    """Mails sent per recipient domain: one grouped query over the campaign's deliveries, cached
    (keyed on the number sent, so it refreshes while the campaign is still going out)."""
    sent = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT)
    key = recipient_domains_cache_key(campaign_id=campaign.pk, sent=sent.count())
    found = cache.get(key)
    if found is None:
        email = F("subscriber__email")
        domain = Lower(Substr(email, StrIndex(email, Value("@")) + 1))
        found = dict(
            sent.filter(subscriber__isnull=False)
            .order_by()
            .annotate(domain=domain)
            .values("domain")
            .annotate(n=Count("pk"))
            .values_list("domain", "n")
        )
        cache.set(key, found, RECIPIENT_CACHE_SECONDS)
    return found


def campaign_domains(*, campaign: Campaign, limit: int = TOP_DOMAINS) -> list[DomainRow]:
    """The recipient domains with the most mails, with identified opens and clicks from the counters."""
    sent = campaign_recipient_domains(campaign=campaign)
    stats = {row.domain: row for row in DomainStats.objects.filter(campaign=campaign)}
    names = sorted(set(sent) | set(stats), key=lambda name: (-sent.get(name, 0), name))[:limit]
    rows = []
    for name in names:
        row = stats.get(name)
        rows.append(
            DomainRow(
                domain=name,
                sent=sent.get(name, 0),
                unique_opens=row.unique_opens if row else 0,
                unique_clicks=row.unique_clicks if row else 0,
                opens=row.opens if row else 0,
                clicks=row.clicks if row else 0,
            )
        )
    return rows


UNSUBSCRIBE_ATTRIBUTION = timedelta(days=30)


def campaign_list_unsubscribes(*, campaign: Campaign) -> int:
    """Recipients who left one of the campaign's lists after it started and before the next
    campaign to any of those lists started (at most 30 days): the unsubscribe link names no
    campaign, so this is an attribution by time.

    Reads the few ended subscriptions of the lists (index on list and status) and checks each
    against the campaign's deliveries (unique index), so it stays cheap for large campaigns.
    """
    if campaign.started_at is None:
        return 0
    list_ids = list(campaign.mailing_lists.values_list("pk", flat=True))
    next_start = (
        Campaign.objects.filter(mailing_lists__in=list_ids, started_at__gt=campaign.started_at)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    until = min(filter(None, [next_start, campaign.started_at + UNSUBSCRIBE_ATTRIBUTION]))
    received = Delivery.objects.filter(
        campaign=campaign, subscriber=OuterRef("subscriber"), status=Delivery.Status.SENT
    )
    return (
        Subscription.objects.filter(
            mailing_list_id__in=list_ids,
            status=Subscription.Status.UNSUBSCRIBED,
            unsubscribed_at__gte=campaign.started_at,
            unsubscribed_at__lt=until,
        )
        .filter(Exists(received))
        .values("subscriber")
        .distinct()
        .count()
    )


@dataclass(frozen=True)
class CampaignSummary:
    """One row of the campaign list (and one column of a comparison)."""

    campaign: Campaign
    funnel: Funnel
    list_unsubscribes: int

    @property
    def unsubscribes(self) -> int:
        """List unsubscribes attributed to the campaign; ESP-reported ones when the ESP saw more."""
        return max(self.list_unsubscribes, self.funnel.unsubscribed)


def campaign_summaries(*, campaigns: list[Campaign], machines: bool = False) -> list[CampaignSummary]:
    funnels = campaign_funnels(campaign_ids=[campaign.pk for campaign in campaigns], machines=machines)
    return [
        CampaignSummary(
            campaign=campaign,
            funnel=funnels[campaign.pk],
            list_unsubscribes=campaign_list_unsubscribes(campaign=campaign),
        )
        for campaign in campaigns
    ]


def analysed_campaigns():
    """Campaigns that went out (or are going out), newest first: the ones with figures."""
    return Campaign.objects.filter(started_at__isnull=False).order_by("-started_at", "-pk")


def _person_rows(model, subscriber: Subscriber, *, moment: str, **extra: str) -> list[dict]:
    """A subscriber's rows of ``Event`` or ``DeliveryRead`` for the GDPR export (``extra``: key → field)."""
    rows = model.objects.filter(delivery__subscriber=subscriber).select_related("campaign", "link")
    return [
        {
            "campaign": row.campaign.name,
            "kind": row.kind,
            moment: row.occurred_at.isoformat(),
            "link": row.link.url if row.link else None,
            **{key: getattr(row, field) for key, field in extra.items()},
            "machine": row.is_machine,
        }
        for row in rows.order_by("occurred_at", "pk")
    ]


def subscriber_events_export(subscriber: Subscriber) -> tuple[str, list[dict]]:
    """The opens and clicks stored for a subscriber, for their GDPR export (consented tracking only)."""
    return "tracking_events", _person_rows(Event, subscriber, moment="occurred_at", user_agent="user_agent")


def subscriber_reads_export(subscriber: Subscriber) -> tuple[str, list[dict]]:
    """What deleted (expired) opens and clicks still say about a subscriber, for their GDPR export."""
    return "tracking_expired_events", _person_rows(DeliveryRead, subscriber, moment="last_occurred_at")


def events_exist(**filters) -> Q:
    """Whether a stored event matches ``filters``, or the trace retention left of expired ones
    (``DeliveryRead``, whose fields are named like ``Event``'s; ``occurred_at`` is its latest moment)."""
    return Q(Exists(Event.objects.filter(**filters))) | Q(Exists(DeliveryRead.objects.filter(**filters)))


def read_by_person(*, action: str, delivery) -> ExpressionWrapper:
    """Whether a person, not a machine, opened (a click counts as an open) or clicked the delivery
    (an id or an ``OuterRef``). Events name their delivery only while the subscriber agreed to
    individual tracking, and withdrawing consent unlinks them, so this respects tracking consent."""
    from tracking.conditions import READ_KINDS

    read = events_exist(delivery=delivery, kind__in=READ_KINDS[action], is_machine=False)
    return ExpressionWrapper(read, output_field=BooleanField())


def delivery_read_by_person(*, delivery_id: int, action: str) -> bool:
    return Delivery.objects.filter(pk=delivery_id).filter(read_by_person(action=action, delivery=delivery_id)).exists()
