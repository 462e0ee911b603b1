"""Delete a campaign's counted tracking events with the real retention service and print the rate.

    DATABASE_URL=postgres://…/kanal_retention .venv/bin/python bench/event_retention.py [--events 1000000]

Builds the campaign, deliveries and events of bench/analytics_page.py (same code, same mix:
70 % of readers tracked individually), counts them with the real batcher, then runs
``tracking.services.retention.events_expire`` as if the retention period had passed: every
event is deleted in batches, the identified opens and clicks folded into ``DeliveryRead`` in the
same transaction. Prints events deleted per second and the size of what is left. The database is
``kanal_retention`` next to DATABASE_URL (PostgreSQL), else SQLite in var/bench/retention/.

Without ``--partitions`` the events are a week old, so on PostgreSQL they are deleted in batches
(the month is not over); with it (PostgreSQL only) they all fall in one month three months ago,
whose partition is folded and dropped whole.
"""

import argparse
import time
from datetime import timedelta
from pathlib import Path

from analytics_page import build_campaign, count_events, insert_events
from benchenv import bench_database, say, setup_django

BENCH_DIR = Path(__file__).resolve().parent.parent / "var" / "bench" / "retention"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--partitions", action="store_true", help="events in one old month partition (PostgreSQL)")
    args = parser.parse_args()

    database = bench_database("kanal_retention", bench_dir=BENCH_DIR)
    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from tracking import partitions, selectors
    from tracking.models import DeliveryRead, Event
    from tracking.services.retention import event_partitions_ensure, events_expire

    say(f"database: {database}; {args.recipients:,} recipients, {args.events:,} events")
    started = timezone.now() - timedelta(days=8)
    expire_at = timezone.now() + timedelta(days=settings.KANAL_EVENT_RETENTION_DAYS)
    if args.partitions:
        assert connection.vendor == "postgresql", "--partitions needs PostgreSQL"
        month = partitions.month_start(timezone.now() - timedelta(days=95))
        started = month + timedelta(days=1)  # a week of reading, all inside that month
        event_partitions_ensure(now=started)
        expire_at = partitions.month_after(month) + timedelta(days=settings.KANAL_EVENT_RETENTION_DAYS)
    campaign, link_ids = build_campaign(args.recipients, started)
    insert_events(campaign, link_ids, args.events, started)
    counted = count_events(cutoff=timezone.now())
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    funnel = selectors.campaign_funnel(campaign=campaign, machines=True)

    def storage() -> tuple[int, int]:
        """WAL position and the bytes the events table (every partition, indexes too) takes."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_current_wal_lsn() - '0/0', (SELECT coalesce(sum(pg_total_relation_size(relid)), 0) "
                "FROM pg_partition_tree('tracking_event'))"
            )
            return cursor.fetchone()

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Both ways start right after a checkpoint, so each pays full-page images alike.
            cursor.execute("CHECKPOINT")
        wal_before, size_before = storage()
    clock = time.perf_counter()
    outcome = events_expire(now=expire_at, batch_size=args.batch_size)
    elapsed = time.perf_counter() - clock
    assert outcome.deleted == counted and not Event.objects.exists()
    assert outcome.partitions == (1 if args.partitions else 0), outcome
    assert selectors.campaign_funnel(campaign=campaign, machines=True) == funnel, "figures changed"
    say(
        f"events_expire: {outcome.deleted:,} events, {outcome.partitions} month partition dropped, "
        f"{outcome.batches} batches of {args.batch_size:,}, "
        f"{elapsed:.1f} s ({outcome.deleted / elapsed:,.0f} events/s); "
        f"{DeliveryRead.objects.count():,} DeliveryRead rows left; funnel unchanged"
    )
    if connection.vendor == "postgresql":
        wal_after, size_after = storage()
        mb = 1024 * 1024
        say(
            f"WAL written: {(wal_after - wal_before) / mb:,.1f} MB; events table on disk: {size_before / mb:,.1f} MB "
            f"before, {size_after / mb:,.1f} MB after (before any vacuum)"
        )


if __name__ == "__main__":
    main()
