"""PostgreSQL: the events table is partitioned by month, and retention drops whole months."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tracking import event_queue, partitions, tasks
from tracking.models import DeliveryRead, Event
from tracking.services import retention
from tracking.services.events import events_ingest
from tracking.services.retention import event_partitions_ensure, events_expire
from tracking.tests.conftest import process
from tracking.tests.test_machines import store
from tracking.tests.test_retention import after_retention, figures, history  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="only PostgreSQL partitions tracking_event; SQLite deletes in batches"
)


def months_ago(count: int, *, day: int = 10) -> datetime:
    start = partitions.month_start(timezone.now())
    for _month in range(count):
        start = partitions.month_start(start - timedelta(days=1))
    return start.replace(day=day, hour=12)


def rows_per_table() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text, count(*) FROM tracking_event GROUP BY 1")
        return dict(cursor.fetchall())


def attached() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'tracking_event'::regclass")
        return {name for (name,) in cursor.fetchall()}


def is_partitioned() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_partitioned_table WHERE partrelid = 'tracking_event'::regclass")
        return cursor.fetchone()[0] == 1


def drop_partitions_but(kept: set[str]) -> None:
    """Committed partitions outlive a transactional test; the next tests expect the migration's."""
    with connection.cursor() as cursor:
        for name in attached() - kept:
            cursor.execute(f'ALTER TABLE tracking_event DETACH PARTITION "{name}"')
            cursor.execute(f'DROP TABLE "{name}"')


def migrate(target: str) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([("tracking", target)])


@pytest.mark.django_db(transaction=True)
def test_the_migration_partitions_an_installation_with_events_and_keeps_them(campaign, reader):
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("tracking")[0][1]
    kept = attached()
    store("o", delivery=reader, at=months_ago(1))
    process()
    try:
        migrate("0005_event_transactional_message")
        assert not is_partitioned()
        # An installation from before partitioning: events of three months, one of them 14 ago.
        for at in (months_ago(14), months_ago(1, day=20), timezone.now()):
            store("o", delivery=reader, at=at)
        process()
        before = sorted(Event.objects.values_list("pk", "uid", "occurred_at", "counted", "delivery_id"))
        assert len(before) == 4

        migrate(latest)

        assert is_partitioned()
        assert sorted(Event.objects.values_list("pk", "uid", "occurred_at", "counted", "delivery_id")) == before
        assert rows_per_table() == {
            partitions.partition_name(months_ago(14)): 1,
            partitions.partition_name(months_ago(1)): 2,
            partitions.partition_name(partitions.month_start(timezone.now())): 1,
        }
        assert partitions.DEFAULT_PARTITION in attached()
        # The id sequence goes on where it was, and a repeated event is still stored once.
        line = event_queue.event_line(
            kind="c",
            delivery_id=reader.pk,
            campaign_id=0,
            link_id=campaign.link_ids[0],
            head=False,
            ip_hash="",
            user_agent="",
            occurred_ms=int(timezone.now().timestamp() * 1000),
        )
        events_ingest(lines=[line])
        events_ingest(lines=[line])
        assert Event.objects.count() == 5
        assert Event.objects.order_by("-pk").first().pk > max(row[0] for row in before)
    finally:
        migrate(latest)
        drop_partitions_but(kept)


def test_events_of_several_months_land_in_their_month_partitions(campaign, reader):
    now = timezone.now()
    for at in (months_ago(2), months_ago(2, day=27), now, now + timedelta(days=40), months_ago(30)):
        store("o", delivery=reader, at=at)

    this_month = partitions.partition_name(partitions.month_start(now))
    assert rows_per_table() == {
        this_month: 1,
        partitions.partition_name(partitions.month_start(now + timedelta(days=40))): 1,
        # No partition covers these months (the migration made none): the DEFAULT one takes them.
        partitions.DEFAULT_PARTITION: 3,
    }

    created = event_partitions_ensure()

    assert set(created) == {partitions.partition_name(months_ago(2)), partitions.partition_name(months_ago(30))}
    assert rows_per_table() == {
        this_month: 1,
        partitions.partition_name(partitions.month_start(now + timedelta(days=40))): 1,
        partitions.partition_name(months_ago(2)): 2,
        partitions.partition_name(months_ago(30)): 1,
    }


def test_creating_partitions_is_idempotent_and_runs_on_several_hosts_at_once(transactional_db, settings):
    far = timezone.now() + timedelta(days=3 * 365)
    expected = [partitions.partition_name(partitions.month_start(far + timedelta(days=31 * n))) for n in range(4)]
    kept = attached()
    results, errors = [], []
    barrier = threading.Barrier(3)

    def host():
        try:
            barrier.wait()
            results.append(event_partitions_ensure(now=far))
        except Exception as error:  # reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=host) for _host in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    try:
        assert errors == []
        assert sorted(name for created in results for name in created) == sorted(expected)
        assert event_partitions_ensure(now=far) == []
        assert set(expected) <= attached()
        # The beat task, daily: this month and the next ones exist since the migration.
        entry = settings.CELERY_BEAT_SCHEDULE["tracking-event-partitions"]
        assert entry["task"] == "tracking.tasks.ensure_event_partitions"
        before = attached()
        tasks.ensure_event_partitions()
        assert attached() == before
    finally:
        drop_partitions_but(kept)


def test_retention_drops_whole_old_months_and_analytics_stay_exact(client, history, campaign, settings):  # noqa: F811
    _campaign, people = history
    ana = people["ana"]
    # Older months too, each read by a person and a machine.
    for months in (2, 3):
        store("o", delivery=ana, at=months_ago(months))
        store("c", delivery=ana, link=campaign.link_ids[2], at=months_ago(months) + timedelta(minutes=1))
        store("o", delivery=people["ben"], at=months_ago(months), head=True)
    process()
    event_partitions_ensure()
    old_months = {partitions.partition_name(months_ago(months)) for months in (2, 3)}
    assert old_months <= set(rows_per_table())
    stored = Event.objects.count()
    before = figures(client, campaign, people)

    outcome = events_expire(now=after_retention(settings))

    assert outcome.partitions >= 2, "at least the two old months went whole"
    assert outcome.deleted == stored and not Event.objects.exists()
    assert not old_months & attached()
    assert figures(client, campaign, people) == before


def test_the_month_of_the_cutoff_goes_in_batches(campaign, reader, settings):
    early, late = months_ago(3, day=5), months_ago(3, day=25)
    store("o", delivery=reader, at=early)
    store("c", delivery=reader, link=campaign.link_ids[0], at=late)
    process()
    event_partitions_ensure()
    name = partitions.partition_name(early)

    cutoff_day = months_ago(3, day=15)
    outcome = events_expire(now=cutoff_day + timedelta(days=settings.KANAL_EVENT_RETENTION_DAYS))

    assert (outcome.partitions, outcome.deleted, outcome.batches) == (0, 1, 1)
    assert rows_per_table() == {name: 1}
    assert list(Event.objects.values_list("kind", flat=True)) == ["click"]


def test_an_uncounted_event_keeps_its_month(campaign, reader, settings):
    store("o", delivery=reader, at=months_ago(3))
    process()
    event_partitions_ensure()
    name = partitions.partition_name(months_ago(3))
    # A late line from Redis for that month, not counted yet.
    store("c", delivery=reader, link=campaign.link_ids[0], at=months_ago(3, day=12))

    outcome = events_expire(now=datetime.now(tz=UTC) + timedelta(days=settings.KANAL_EVENT_RETENTION_DAYS))

    assert outcome.partitions == 0 and name in attached()
    assert Event.objects.filter(counted=False).count() == 1


def test_a_month_that_gets_a_late_event_while_it_is_folded_stays(campaign, reader, settings, monkeypatch, caplog):
    store("o", delivery=reader, at=months_ago(3))
    process()
    event_partitions_ensure()
    name = partitions.partition_name(months_ago(3))
    fold = retention._fold

    late = []

    def fold_while_a_late_line_arrives(batch):
        fold(batch)
        if not late:
            late.append(store("c", delivery=reader, link=campaign.link_ids[0], at=months_ago(3, day=12)))

    monkeypatch.setattr(retention, "_fold", fold_while_a_late_line_arrives)
    later = partitions.month_after(months_ago(3)) + timedelta(days=settings.KANAL_EVENT_RETENTION_DAYS)
    outcome = events_expire(now=later)

    # The drop is undone and the month stays attached; the counted open goes in a batch instead.
    # (The late line, stored here in the same transaction, is undone with it: from the endpoint
    # it would come through another connection and stay, uncounted.)
    assert (outcome.partitions, outcome.deleted, outcome.batches) == (0, 1, 1)
    assert late and name in attached()
    assert "changed while it was folded" in caplog.text
    assert list(DeliveryRead.objects.values_list("kind", flat=True)) == ["open"]
