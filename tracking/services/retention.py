"""Retention: raw events older than ``KANAL_EVENT_RETENTION_DAYS`` are deleted once counted.

Every campaign figure already lives in the counters the batcher keeps; what a single person did
(opened this mail, clicked that link, last on this day) is folded into ``DeliveryRead`` in the
transaction that deletes the batch, so segments, automations and first-click counting read the
same answers afterwards (docs/architecture.md, "Retention").

On PostgreSQL the table is partitioned by month (``tracking.partitions``): a month wholly before
the cutoff is folded with the same ``_fold`` and then dropped as a table, and only the rest of
the cutoff's month (and any row in the DEFAULT partition) goes in batches.
"""

import itertools
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tracking import partitions
from tracking.models import DeliveryRead, Event
from tracking.services.events import COUNT_LOCK_ID

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
FOLDED = ("pk", "kind", "campaign_id", "delivery_id", "link_id", "article_id", "is_machine", "occurred_at")


@dataclass(frozen=True)
class ExpireOutcome:
    cutoff: datetime | None
    deleted: int = 0
    batches: int = 0
    # Month partitions dropped whole (PostgreSQL); their events are part of ``deleted``.
    partitions: int = 0


class _MonthChanged(Exception):
    """Rows entered or left a month partition while it was being folded: keep it for the next run."""


def retention_cutoff(*, now: datetime) -> datetime | None:
    """Events before this may go; None while retention is off (0 days).

    Never at or after an uncounted event's burst window: labelling it reads the events around it.
    """
    days = settings.KANAL_EVENT_RETENTION_DAYS
    if days <= 0:
        return None
    cutoff = now - timedelta(days=days)
    oldest_uncounted = (
        Event.objects.filter(counted=False).order_by("occurred_at").values_list("occurred_at", flat=True).first()
    )
    if oldest_uncounted is not None:
        margin = timedelta(
            seconds=max(settings.KANAL_TRACKING_HONEYPOT_WINDOW_SECONDS, settings.KANAL_TRACKING_BURST_SECONDS)
        )
        cutoff = min(cutoff, oldest_uncounted - margin)
    return cutoff


def events_expire(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> ExpireOutcome:
    """Delete counted events older than the retention cutoff, one transaction per batch, folding
    each batch's identified opens and clicks into ``DeliveryRead`` first. Safe to run again."""
    cutoff = retention_cutoff(now=now or timezone.now())
    if cutoff is None:
        return ExpireOutcome(cutoff=None)
    deleted = batches = months = 0
    for name, start, end in _expired_months(cutoff=cutoff):
        dropped = _expire_month(name=name, start=start, end=end, batch_size=batch_size)
        if dropped is not None:
            deleted += dropped
            months += 1
    while True:
        done = _expire_batch(cutoff=cutoff, batch_size=batch_size)
        if not done:
            break
        deleted += done
        batches += 1
        logger.info("Expired %s tracking events before %s so far", deleted, cutoff.isoformat())
        if done < batch_size:
            break
    return ExpireOutcome(cutoff=cutoff, deleted=deleted, batches=batches, partitions=months)


def event_partitions_ensure(*, now: datetime | None = None) -> list[str]:
    """Create the month partitions of ``tracking_event`` from the current month to
    ``partitions.MONTHS_AHEAD`` months ahead, and of any month whose rows landed in the DEFAULT
    partition (they move in). PostgreSQL only; returns the names created. Idempotent, and safe on
    several hosts at once (one advisory lock)."""
    if connection.vendor != "postgresql":
        return []
    month = partitions.month_start(now or timezone.now())
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        if not partitions.is_partitioned(cursor):
            return []
        partitions.lock(cursor)
        months = {month}
        for _ahead in range(partitions.MONTHS_AHEAD):
            month = partitions.month_after(month)
            months.add(month)
        months.update(partitions.default_months(cursor))
        for start in sorted(months):
            if partitions.month_partition_create(cursor, start=start):
                created.append(partitions.partition_name(start))
        partitions.unlock(cursor)
    if created:
        logger.info("Created tracking event partitions %s", ", ".join(created))
    return created


def _expired_months(*, cutoff: datetime) -> list[tuple[str, datetime, datetime]]:
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        if not partitions.is_partitioned(cursor):
            return []
        return [month for month in partitions.month_partitions(cursor) if month[2] <= cutoff]


def _expire_month(*, name: str, start: datetime, end: datetime, batch_size: int) -> int | None:
    """Fold a month partition's events in batches, then detach and drop it, in one transaction
    under the batcher's lock (counting waits, storing does not). Returns the events dropped, or
    None when the month is gone already or changed meanwhile (then nothing happened)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COUNT_LOCK_ID])
            partitions.lock(cursor)
            if name not in {month[0] for month in partitions.month_partitions(cursor)}:
                partitions.unlock(cursor)
                return None  # another host dropped it
            events = Event.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
            if events.filter(counted=False).exists():
                partitions.unlock(cursor)
                return None  # a late event not counted yet: the month goes on a later run
            clock = time.monotonic()
            # One pass in delivery order (a server-side cursor, one sort of the month): a delivery's
            # events fall into one batch, so each trace is written about once, not once per batch.
            folded = 0
            rows = events.order_by("delivery_id", "pk").values_list(*FOLDED).iterator(chunk_size=batch_size)
            while batch := list(itertools.islice(rows, batch_size)):
                _fold(batch)
                folded += len(batch)
            # Detached, the month takes no more rows: what it holds now is what was folded, all
            # counted (counting could not run meanwhile), or the fold is undone and it stays.
            fold_seconds, clock = time.monotonic() - clock, time.monotonic()
            total, uncounted = partitions.month_partition_detach(cursor, name=name)
            if uncounted or total != folded:
                raise _MonthChanged
            partitions.month_partition_drop(cursor, name=name)
            partitions.unlock(cursor)
        logger.info(
            "Dropped tracking event partition %s: %s events folded in %.1f s, detached and dropped in %.3f s",
            name,
            folded,
            fold_seconds,
            time.monotonic() - clock,
        )
    except _MonthChanged:
        logger.warning("Tracking event partition %s changed while it was folded; kept for the next run", name)
        return None
    return folded


def _expire_batch(*, cutoff: datetime, batch_size: int) -> int:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The batcher's lock: counting reads events and DeliveryRead to find first clicks, and
            # must not see a batch between its deletion and its fold.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [COUNT_LOCK_ID])
        batch = list(
            Event.objects.filter(counted=True, occurred_at__lt=cutoff).order_by("pk").values_list(*FOLDED)[:batch_size]
        )
        if not batch:
            return 0
        _fold(batch)
        Event.objects.filter(pk__in=[row[0] for row in batch]).delete()
    return len(batch)


def _fold(batch: list[tuple]) -> None:
    """Keep, per delivery, kind, link and machine label, that it happened and when it last did."""
    latest: dict[tuple, tuple] = {}
    for _pk, kind, campaign_id, delivery_id, link_id, article_id, is_machine, occurred_at in batch:
        if delivery_id is None or kind == Event.Kind.HONEYPOT:
            continue
        key = (delivery_id, kind, link_id, is_machine)
        if key not in latest or latest[key][2] < occurred_at:
            latest[key] = (campaign_id, article_id, occurred_at)
    if not latest:
        return
    quote = connection.ops.quote_name
    table = quote(DeliveryRead._meta.db_table)
    names = ("campaign", "delivery", "kind", "link", "article", "is_machine", "occurred_at")
    fields = [DeliveryRead._meta.get_field(name) for name in names]
    columns = ", ".join(quote(field.column) for field in fields)
    delivery, kind, link, machine, moment = (
        quote(DeliveryRead._meta.get_field(name).column)
        for name in ("delivery", "kind", "link", "is_machine", "occurred_at")
    )
    # The conflict target is the unique index one_delivery_read_per_link; only quoted names from
    # the model's own metadata reach the SQL text.
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "  # noqa: S608
        f"ON CONFLICT ({delivery}, {kind}, (COALESCE({link}, 0)), {machine}) DO UPDATE SET {moment} = CASE "
        f"WHEN {table}.{moment} < EXCLUDED.{moment} THEN EXCLUDED.{moment} ELSE {table}.{moment} END"
    )
    rows = [
        (campaign_id, delivery_id, kind, link_id, article_id, is_machine, occurred_at)
        for (delivery_id, kind, link_id, is_machine), (campaign_id, article_id, occurred_at) in sorted(
            latest.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or 0, item[0][3])
        )
    ]
    with connection.cursor() as cursor:
        cursor.executemany(
            sql,
            [
                tuple(field.get_db_prep_save(value, connection) for field, value in zip(fields, row, strict=True))
                for row in rows
            ],
        )
