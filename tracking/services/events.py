"""From the endpoints' Redis list to stored events and hourly counters, idempotent by database state.

Two steps, each one transaction:

1. **Store** (``events_ingest``): queued lines become ``Event`` rows with ON CONFLICT DO NOTHING
   on the endpoint-made ``uid``, so a chunk stored twice (a batcher died before trimming it from
   Redis) is stored once. Rules that need only the event itself label machines here, and the
   delivery is dropped from the event unless the installation and the subscriber allow
   individual tracking *now* (a consent withdrawn after the mail went out is honoured).
2. **Count** (``events_count``): events old enough that no honeypot hit or burst can still
   change their label get their burst labels, are added to the hourly counters and marked
   counted, all at once. Counting is serialised (advisory lock on PostgreSQL, SQLite's single
   writer), and an event is counted only while ``counted`` is false, so counters never count
   twice. The keyed address hash is cleared once no uncounted event can be judged against it.

Unique figures count identified deliveries only (the first human open, the first human click
per campaign, article and link); anonymous events add to totals and to ``anonymous_*``. The
same counting step fills the counters of the campaign page that are not per hour: events by
device, system, mail client and machine reason (``ClientStats``, user agents parsed once per
distinct string), people's opens and clicks per recipient domain (``DomainStats``), and each
identified reader's last interaction (``SubscriberEngagement``), so no page ever scans events.

Events of a transactional message (``tracking.extensions``) go the same way with the same labels;
only their figures differ: the message's app gets each message's first human open and click.
"""

import bisect
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from newsletter_site.bulk import insert_rows
from tracking import event_queue, extensions, machines, user_agents
from tracking.models import (
    ArticleHourStats,
    CampaignHourStats,
    ClientStats,
    DeliveryRead,
    DomainStats,
    Event,
    LinkHourStats,
    SubscriberEngagement,
    TrackedLink,
)
from tracking.signals import HumanEvent, human_events_counted

logger = logging.getLogger(__name__)

Kind = Event.Kind
Reason = Event.MachineReason
KINDS = {event_queue.OPEN: Kind.OPEN, event_queue.CLICK: Kind.CLICK, event_queue.HONEYPOT: Kind.HONEYPOT}
EVENT_COLUMNS = (
    "uid",
    "kind",
    "campaign",
    "delivery",
    "link",
    "article",
    "occurred_at",
    "user_agent",
    "ip_hash",
    "is_machine",
    "machine_reason",
    "message_id",
    "message_link",
)
# Any constant: the advisory lock that serialises counting on PostgreSQL ("kanal" in ASCII).
COUNT_LOCK_ID = 0x6B616E616C


@dataclass(frozen=True)
class ProcessOutcome:
    stored: int = 0
    counted: int = 0


def event_record(line: str) -> None:
    """Hand one event line to Redis; if Redis is away, store it directly (slower, but not lost)."""
    if event_queue.push(line):
        return
    try:
        events_ingest(lines=[line])
    except DatabaseError:
        logger.exception("Tracking event lost: neither Redis nor the database took it")


def events_ingest(*, lines: Iterable[bytes | str]) -> int:
    """Store queued event lines; returns how many were valid (repeats are ignored by the database)."""
    raw = [event for event in map(event_queue.parse_line, lines) if event is not None]
    if not raw:
        return 0
    deliveries = {
        pk: (campaign_id, sent_at, consent)
        for pk, campaign_id, sent_at, consent in Delivery.objects.filter(
            pk__in={event.delivery_id for event in raw if event.delivery_id}
        ).values_list("pk", "campaign_id", "sent_at", "subscriber__tracking_consent")
    }
    links = {
        pk: (campaign_id, article_id)
        for pk, campaign_id, article_id in TrackedLink.objects.filter(
            pk__in={event.link_id for event in raw if event.link_id}
        ).values_list("pk", "campaign_id", "article_id")
    }
    campaigns = set(
        Campaign.objects.filter(
            pk__in={event.campaign_id for event in raw if event.campaign_id and not event.delivery_id}
        ).values_list("pk", flat=True)
    )
    messages = _message_facts({event.message_id for event in raw if event.message_id})
    individual_allowed = settings.KANAL_INDIVIDUAL_TRACKING
    scanner_seconds = settings.KANAL_TRACKING_SCANNER_SECONDS
    uid_field = Event._meta.get_field("uid")
    occurred_field = Event._meta.get_field("occurred_at")
    rows = []
    for event in raw:
        kind = KINDS[event.kind]
        delivery_id = link_id = article_id = sent_at = message_id = message_link = None
        if event.message_id:
            facts = messages.get(event.message_id)
            if facts is None or not facts.trackable or not individual_allowed:
                continue  # names nobody who allows tracking now, and counts for nothing else
            if kind == Kind.CLICK and event.link_id <= 0:
                continue
            campaign_id, sent_at, message_id = None, facts.sent_at, event.message_id
            message_link = event.link_id if kind == Kind.CLICK else None
        elif event.delivery_id:
            if event.delivery_id not in deliveries:
                continue  # its campaign was deleted
            campaign_id, sent_at, consent = deliveries[event.delivery_id]
            if individual_allowed and consent:
                delivery_id = event.delivery_id
        elif event.campaign_id in campaigns:
            campaign_id = event.campaign_id
        else:
            campaign_id = None
        if kind == Kind.CLICK and message_id is None:
            if event.link_id not in links:
                continue
            link_campaign_id, article_id = links[event.link_id]
            if campaign_id is not None and campaign_id != link_campaign_id:
                continue  # never issued: a click token names a link of its delivery's campaign
            campaign_id, link_id = link_campaign_id, event.link_id
        if campaign_id is None and message_id is None:
            continue
        occurred_at = datetime.fromtimestamp(event.occurred_ms / 1000, tz=UTC)
        reason = machines.label_single(
            kind=kind,
            head=event.head,
            user_agent=event.user_agent,
            occurred_at=occurred_at,
            sent_at=sent_at,
            scanner_seconds=scanner_seconds,
        )
        rows.append(
            (
                uid_field.get_db_prep_save(uuid.UUID(event.uid), connection),
                kind,
                campaign_id,
                delivery_id,
                link_id,
                article_id,
                occurred_field.get_db_prep_save(occurred_at, connection),
                event.user_agent,
                event.ip_hash,
                bool(reason),
                reason,
                message_id,
                message_link,
            )
        )
    with transaction.atomic():
        insert_rows(Event, columns=EVENT_COLUMNS, rows=rows, constants={"counted": False}, ignore_conflicts=True)
    return len(rows)


def _message_facts(message_ids: set[int]) -> dict[int, extensions.MessageFacts]:
    source = extensions.message_source()
    if not message_ids or source is None:
        return {}
    return dict(source.message_facts(message_ids))


def events_drain(*, max_chunks: int) -> int:
    """Move queued events from Redis into the database, one committed chunk at a time."""
    size = settings.KANAL_TRACKING_BATCH_SIZE
    stored = 0
    for _chunk in range(max_chunks):
        chunk = event_queue.processing_chunk(size)
        if not chunk:
            event_queue.claim_queue()
            chunk = event_queue.processing_chunk(size)
            if not chunk:
                break
        stored += events_ingest(lines=chunk)
        # Only after the commit: dying before this line means storing the chunk again, harmlessly.
        event_queue.processing_trim(chunk)
    return stored


def count_cutoff(*, now: datetime) -> datetime:
    """Events before this are settled: every event that could relabel them is in the database."""
    settle = max(
        settings.KANAL_TRACKING_SETTLE_SECONDS,
        2 * settings.KANAL_TRACKING_HONEYPOT_WINDOW_SECONDS,
        2 * settings.KANAL_TRACKING_BURST_SECONDS,
    )
    cutoff = now - timedelta(seconds=settle)
    try:
        oldest_ms = event_queue.oldest_pending_ms()
    except redis.RedisError:
        oldest_ms = None
    if oldest_ms is not None:
        waiting_since = datetime.fromtimestamp(oldest_ms / 1000, tz=UTC)
        cutoff = min(cutoff, waiting_since - timedelta(seconds=settings.KANAL_TRACKING_HONEYPOT_WINDOW_SECONDS))
    return cutoff


def events_process(*, now: datetime | None = None, max_chunks: int = 50) -> ProcessOutcome:
    """The batcher: drain Redis, then count what has settled. Safe to run anywhere, any number of times."""
    now = now or timezone.now()
    stored = 0
    try:
        lock = event_queue.lock_acquire(seconds=600)
    except redis.RedisError as error:
        logger.warning("Tracking Redis unavailable, only counting: %s", error)
        lock = None
    if lock is not None:
        try:
            stored = events_drain(max_chunks=max_chunks)
            dropped = event_queue.dropped_counts(reset=True)
            if any(dropped.values()):
                logger.warning(
                    "Tracking events dropped since the last run: %(rate)s over an address's rate "
                    "(KANAL_TRACKING_RATE_PER_IP_PER_MINUTE), %(full)s with the queue full (KANAL_TRACKING_QUEUE_MAX)",
                    dropped,
                )
        finally:
            event_queue.lock_release(lock)
    cutoff = count_cutoff(now=now)
    counted = 0
    limit = settings.KANAL_TRACKING_BATCH_SIZE
    for _batch in range(max_chunks):
        done = events_count(cutoff=cutoff, limit=limit)
        counted += done
        if done < limit:
            break
    events_forget_addresses(cutoff=cutoff)
    return ProcessOutcome(stored=stored, counted=counted)


@dataclass(slots=True)
class _Counted:
    pk: int
    kind: str
    campaign_id: int | None
    delivery_id: int | None
    link_id: int | None
    article_id: int | None
    occurred_at: datetime
    ip_hash: str
    user_agent: str
    is_machine: bool
    machine_reason: str
    message_id: int | None
    message_link: int | None


def events_count(*, cutoff: datetime, limit: int) -> int:
    """Label bursts, add settled events to the hourly counters and mark them counted. Returns how many."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COUNT_LOCK_ID])
        batch = [
            _Counted(*row)
            for row in Event.objects.filter(counted=False, occurred_at__lt=cutoff)
            .order_by("occurred_at", "pk")
            .values_list(
                "pk",
                "kind",
                "campaign_id",
                "delivery_id",
                "link_id",
                "article_id",
                "occurred_at",
                "ip_hash",
                "user_agent",
                "is_machine",
                "machine_reason",
                "message_id",
                "message_link",
            )[:limit]
        ]
        if not batch:
            return 0
        _label_bursts(batch)
        _counters_add([event for event in batch if event.message_id is None])
        _message_counters_add([event for event in batch if event.message_id is not None])
        Event.objects.filter(pk__in=[event.pk for event in batch]).update(counted=True)
        people = _human_events(batch)
        if people:
            transaction.on_commit(lambda: human_events_counted.send(sender=Event, events=people), robust=True)
    return len(batch)


def _human_events(batch: list[_Counted]) -> list[HumanEvent]:
    """The batch's human opens and clicks of subscribers who allow individual tracking now."""
    human = [event for event in batch if event.delivery_id and not event.is_machine and event.kind != Kind.HONEYPOT]
    if not human or not settings.KANAL_INDIVIDUAL_TRACKING:
        return []
    subscribers = dict(
        Delivery.objects.filter(
            pk__in={event.delivery_id for event in human}, subscriber__tracking_consent=True
        ).values_list("pk", "subscriber_id")
    )
    return [
        HumanEvent(
            kind=event.kind,
            campaign_id=event.campaign_id,
            link_id=event.link_id,
            article_id=event.article_id,
            subscriber_id=subscribers[event.delivery_id],
            occurred_at=event.occurred_at,
        )
        for event in human
        if event.delivery_id in subscribers
    ]


def events_forget_addresses(*, cutoff: datetime) -> int:
    """Clear the address hash of counted events that no uncounted event can be judged against any more."""
    margin = timedelta(
        seconds=max(settings.KANAL_TRACKING_HONEYPOT_WINDOW_SECONDS, settings.KANAL_TRACKING_BURST_SECONDS)
    )
    return Event.objects.filter(counted=True, occurred_at__lt=cutoff - margin).exclude(ip_hash="").update(ip_hash="")


def _message_counters_add(batch: list[_Counted]) -> None:
    """Hand the first human open and click per transactional message to the app that owns the
    messages, which keeps them unique per message and counts them per template."""
    opened: dict[int, datetime] = {}
    clicked: dict[int, datetime] = {}
    for event in batch:
        if event.is_machine or event.kind == Kind.HONEYPOT:
            continue
        first = opened if event.kind == Kind.OPEN else clicked
        if event.message_id not in first or event.occurred_at < first[event.message_id]:
            first[event.message_id] = event.occurred_at
    source = extensions.message_source()
    if (opened or clicked) and source is not None:
        source.message_events_counted(opened=opened, clicked=clicked)


def _group(*, campaign_id: int | None, delivery_id: int | None, ip_hash: str, message_id: int | None = None):
    """Events of one mail: its delivery or transactional message, or for anonymous events the
    campaign and client address."""
    if message_id:
        return ("message", message_id)
    if delivery_id:
        return ("delivery", delivery_id)
    if ip_hash:
        return ("address", campaign_id, ip_hash)
    return None


def _within(times: list[datetime], moment: datetime, window: timedelta) -> list[int]:
    """Indexes of ``times`` (sorted) within ``window`` of ``moment``."""
    return list(range(bisect.bisect_left(times, moment - window), bisect.bisect_right(times, moment + window)))


def _label_bursts(batch: list[_Counted]) -> None:
    """Honeypot neighbours and link bursts, judged against every stored event around them."""
    honeypot_window = timedelta(seconds=settings.KANAL_TRACKING_HONEYPOT_WINDOW_SECONDS)
    burst_window = timedelta(seconds=settings.KANAL_TRACKING_BURST_SECONDS)
    burst_links = settings.KANAL_TRACKING_BURST_LINKS
    candidates = [event for event in batch if not event.is_machine and event.kind != Kind.HONEYPOT]
    if not candidates:
        return
    margin = max(honeypot_window, burst_window)
    # Only the events of the candidates' own groups (``_group``): a big campaign's other readers
    # clicking in the same minutes would otherwise be read again for every batch.
    delivery_ids = {event.delivery_id for event in candidates if event.delivery_id and not event.message_id}
    message_ids = {event.message_id for event in candidates if event.message_id}
    anonymous = [event for event in candidates if not event.delivery_id and not event.message_id and event.ip_hash]
    groups = Q(delivery__id__any_of=sorted(delivery_ids)) | Q(message_id__any_of=sorted(message_ids))
    if anonymous:
        groups |= Q(
            delivery_id__isnull=True,
            message_id__isnull=True,
            campaign__id__any_of=sorted({event.campaign_id for event in anonymous}),
            ip_hash__any_of=sorted({event.ip_hash for event in anonymous}),
        )
    around = (
        Event.objects.filter(
            groups,
            kind__in=[Kind.CLICK, Kind.HONEYPOT],
            occurred_at__gte=min(event.occurred_at for event in candidates) - margin,
            occurred_at__lte=max(event.occurred_at for event in candidates) + margin,
        )
        .order_by()
        .values_list(
            "kind",
            "campaign_id",
            "delivery_id",
            "link_id",
            "occurred_at",
            "ip_hash",
            "user_agent",
            "message_id",
            "message_link",
        )
    )
    honeypots: dict[tuple, list[datetime]] = defaultdict(list)
    clicks: dict[tuple, list[tuple[datetime, int]]] = defaultdict(list)
    for kind, campaign_id, delivery_id, link_id, occurred_at, ip_hash, user_agent, message_id, message_link in around:
        key = _group(campaign_id=campaign_id, delivery_id=delivery_id, ip_hash=ip_hash, message_id=message_id)
        if key is None:
            continue
        if kind == Kind.HONEYPOT:
            honeypots[key].append(occurred_at)
        else:
            clicks[(*key, user_agent)].append((occurred_at, link_id or message_link))
    for times in honeypots.values():
        times.sort()
    for series in clicks.values():
        series.sort()
    relabel: dict[str, list[int]] = defaultdict(list)
    for event in candidates:
        key = _group(
            campaign_id=event.campaign_id,
            delivery_id=event.delivery_id,
            ip_hash=event.ip_hash,
            message_id=event.message_id,
        )
        if key is None:
            continue
        if _within(honeypots.get(key, []), event.occurred_at, honeypot_window):
            event.is_machine, event.machine_reason = True, Reason.HONEYPOT_BURST
        elif event.kind == Kind.CLICK:
            series = clicks.get((*key, event.user_agent), [])
            times = [moment for moment, _link in series]
            nearby = {series[index][1] for index in _within(times, event.occurred_at, burst_window)}
            if len(nearby) >= burst_links:
                event.is_machine, event.machine_reason = True, Reason.LINK_BURST
        if event.is_machine:
            relabel[event.machine_reason].append(event.pk)
    for reason, pks in relabel.items():
        Event.objects.filter(pk__in=pks).update(is_machine=True, machine_reason=reason)


def _counters_add(batch: list[_Counted]) -> None:
    identified = {event.delivery_id for event in batch if event.delivery_id and not event.is_machine}
    seen: set[tuple] = set()
    earlier = Event.objects.filter(
        counted=True, is_machine=False, delivery_id__in=identified, kind__in=[Kind.OPEN, Kind.CLICK]
    )
    # order_by(): the model's default ordering would otherwise make every row distinct.
    # What retention deleted left its trace in DeliveryRead: a late event is no first one either.
    expired = DeliveryRead.objects.filter(is_machine=False, delivery_id__in=identified)
    for found in (earlier, expired):
        for delivery_id, kind, article_id, link_id in (
            found.order_by().values_list("delivery_id", "kind", "article_id", "link_id").distinct()
        ):
            seen.update(_unique_keys(delivery_id, kind, article_id, link_id))
    recipients = {
        pk: (subscriber_id, email.rpartition("@")[2][:254])
        for pk, subscriber_id, email in Delivery.objects.filter(pk__in=identified, subscriber__isnull=False)
        .order_by()
        .values_list("pk", "subscriber_id", "subscriber__email")
    }

    campaign_rows: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    article_rows: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    link_rows: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    client_rows: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    domain_rows: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    last_interaction: dict[int, datetime] = {}
    for event in batch:
        device, os_family, client = user_agents.describe(event.user_agent)
        client_rows[(event.campaign_id, event.kind, event.machine_reason, device, os_family, client)]["events"] += 1
        if event.kind == Kind.HONEYPOT:
            continue
        hour = event.occurred_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        targets = [campaign_rows[(event.campaign_id, hour)]]
        if event.kind == Kind.CLICK:
            if event.article_id:
                targets.append(article_rows[(event.article_id, hour, event.campaign_id)])
            targets.append(link_rows[(event.link_id, hour, event.campaign_id)])
        noun = "opens" if event.kind == Kind.OPEN else "clicks"
        if event.is_machine:
            for counters in targets:
                counters[f"machine_{noun}"] += 1
            continue
        for counters in targets:
            counters[noun] += 1
        if event.delivery_id is None:
            for counters in targets:
                counters[f"anonymous_{noun}"] += 1
            continue
        recipient = recipients.get(event.delivery_id)
        domain = None
        if recipient is not None:
            subscriber_id, domain_name = recipient
            if subscriber_id not in last_interaction or last_interaction[subscriber_id] < event.occurred_at:
                last_interaction[subscriber_id] = event.occurred_at
            domain = domain_rows[(event.campaign_id, domain_name)]
            domain[noun] += 1
        for place, (counters, key) in enumerate(
            zip(targets, _unique_keys(event.delivery_id, event.kind, event.article_id, event.link_id), strict=False)
        ):
            if key not in seen:
                seen.add(key)
                counters[f"unique_{noun}"] += 1
                if place == 0 and domain is not None:
                    domain[f"unique_{noun}"] += 1

    _upsert_add(
        CampaignHourStats,
        keys=("campaign", "hour"),
        extra=(),
        counts=("opens", "machine_opens", "unique_opens", "anonymous_opens", *CLICK_COUNTS),
        rows=campaign_rows,
    )
    _upsert_add(ArticleHourStats, keys=("article", "hour"), extra=("campaign",), counts=CLICK_COUNTS, rows=article_rows)
    _upsert_add(LinkHourStats, keys=("link", "hour"), extra=("campaign",), counts=CLICK_COUNTS, rows=link_rows)
    _upsert_add(
        ClientStats,
        keys=("campaign", "kind", "machine_reason", "device", "os", "client"),
        extra=(),
        counts=("events",),
        rows=client_rows,
    )
    _upsert_add(
        DomainStats,
        keys=("campaign", "domain"),
        extra=(),
        counts=("opens", "unique_opens", "clicks", "unique_clicks"),
        rows=domain_rows,
    )
    _last_interaction_store(last_interaction)


def _last_interaction_store(last_interaction: dict[int, datetime]) -> None:
    """Move each subscriber's last open or click forward (never back: batches may arrive out of order)."""
    if not last_interaction:
        return
    quote = connection.ops.quote_name
    table = quote(SubscriberEngagement._meta.db_table)
    subscriber = quote(SubscriberEngagement._meta.get_field("subscriber").column)
    last = quote("last_interaction_at")
    # Only quoted names from the model's own metadata reach the SQL text.
    sql = (
        f"INSERT INTO {table} ({subscriber}, {quote('score')}, {quote('mails_in_window')}, {last}) "  # noqa: S608
        f"VALUES (%s, 0, 0, %s) ON CONFLICT ({subscriber}) DO UPDATE SET {last} = CASE "
        f"WHEN {table}.{last} IS NULL OR {table}.{last} < EXCLUDED.{last} THEN EXCLUDED.{last} ELSE {table}.{last} END"
    )
    field = SubscriberEngagement._meta.get_field("last_interaction_at")
    with connection.cursor() as cursor:
        cursor.executemany(
            sql, [(pk, field.get_db_prep_save(moment, connection)) for pk, moment in sorted(last_interaction.items())]
        )


CLICK_COUNTS = ("clicks", "machine_clicks", "unique_clicks", "anonymous_clicks")


def _unique_keys(delivery_id: int, kind: str, article_id: int | None, link_id: int | None) -> list[tuple]:
    """The scopes in which a human event of this delivery can be its first: campaign, then article and link."""
    if kind == Kind.OPEN:
        return [(delivery_id, "open")]
    keys = [(delivery_id, "click")]
    if article_id:
        keys.append((delivery_id, "article", article_id))
    keys.append((delivery_id, "link", link_id))
    return keys


def _upsert_add(model, *, keys: Sequence[str], extra: Sequence[str], counts: Sequence[str], rows: dict) -> None:
    """INSERT … ON CONFLICT DO UPDATE SET n = n + EXCLUDED.n for every counter row (PostgreSQL and SQLite).

    ``rows`` maps a tuple of the ``keys`` and ``extra`` values to the counts to add.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    key_columns = [quote(model._meta.get_field(name).column) for name in keys]
    columns = [*key_columns, *(quote(model._meta.get_field(name).column) for name in (*extra, *counts))]
    increments = ", ".join(f"{quote(name)} = {table}.{quote(name)} + EXCLUDED.{quote(name)}" for name in counts)
    # Only quoted names from the model's own metadata reach the SQL text.
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(key_columns)}) DO UPDATE SET {increments}"
    )
    fields = [model._meta.get_field(name) for name in (*keys, *extra)]
    values = [
        (
            *(field.get_db_prep_save(value, connection) for field, value in zip(fields, key, strict=True)),
            *(counters[name] for name in counts),
        )
        for key, counters in rows.items()
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, values)
