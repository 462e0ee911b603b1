"""The automation scheduler's cost per tick with a million waiting journeys; print the figures.

    .venv/bin/python bench/automations.py [tick] [--database sqlite|postgres] [--journeys 1000000] [--due 1000]
                                                 [--ticks 7] [--history 5] [--runs 3] [--skip-snapshot] [--keep]

What it builds, all by the database itself (INSERT … SELECT over a numbers table; the secondary
indexes of journeys and deliveries dropped for the insert and built again): ``--journeys`` active
subscribers, one active automation ("welcome": wait 2 days, tag, wait, exit) and one active
journey per subscriber, waiting for a moment 1 hour to 30 days ahead, except ``--due`` of them
that are due now.
All subscribers are on one list and got ``--history`` newsletters, a day apart, the last two days
ago; every third got one more two hours ago.

What it measures: ``automations.services.automations_tick`` as beat calls it (is any journey
due? then one ``advance_journeys`` message per free runner slot into the broker; the slots are
freed again before each timed tick, not timed), and the selection a runner's round starts with
(up to ROUND_SIZE due journeys with their subscribers, locked; in a transaction rolled back, so
every round finds the same work); no worker runs. Printed: the median (and min/max) of
``--ticks`` ticks and selections with the due journeys, and of as many with nothing due, and the
plans of both queries (PostgreSQL: ``EXPLAIN ANALYZE``, SQLite: ``EXPLAIN QUERY PLAN``).
Target: < 1 s.
Then the frequency cap: the delivery snapshot of a newsletter to the whole list, with a cap of
one mail a day (the third who got the earlier one are skipped) and bypassing the cap; median of
``--runs``, each rolled back.

``--database sqlite`` (default): SQLite in var/bench/automations/. ``--database postgres``:
the database ``kanal_bench_automations`` next to ``DATABASE_URL`` when that names a PostgreSQL
server, else on 127.0.0.1:5432 as the current user; created afresh (the test database is never
touched). ``--keep`` measures again on the database of the last run without generating it.
"""

import argparse
import getpass
import os
import statistics
import time
from datetime import timedelta
from pathlib import Path

from benchenv import bench_database, say, setup_django
from rowgen import Generator

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "var" / "bench" / "automations"
DATABASE_NAME = "kanal_bench_automations"
STEPS = [
    {"kind": "wait", "days": 2},
    {"kind": "tag_add", "tag": None},
    {"kind": "wait", "days": 3},
    {"kind": "exit"},
]


def build(args) -> None:
    from django.db import connection
    from django.utils import timezone

    from automations.models import Automation, AutomationVersion, Journey
    from subscribers.models import Subscriber, Tag

    g = Generator(connection)
    now = timezone.now()
    started = time.perf_counter()
    g.numbers(args.journeys)
    created = g.value(Subscriber, "created_at", now - timedelta(days=60))
    g.run(
        "INSERT INTO subscribers_subscriber (id, public_id, email, first_name, last_name, language, status, "
        "tracking_consent, created_at, updated_at, token_version, fields) "
        f"SELECT n, {g.hex_id('n')}, 'r' || n || '@example.org', '', '', 'de', 'active', true, %s, %s, 0, "
        f"{'%s::jsonb' if g.postgres else '%s'} FROM bench_n",
        (created, created, "{}"),
    )
    g.reset_sequences([Subscriber])
    tag = Tag.objects.create(name="welcomed")
    steps = [dict(step, tag=tag.pk) if step["kind"] == "tag_add" else step for step in STEPS]
    automation = Automation.objects.create(
        name="Welcome", status=Automation.Status.ACTIVE, trigger_kind="tag_added", trigger_params={}, steps=steps
    )
    version = AutomationVersion.objects.create(automation=automation, number=1, steps=steps)
    table = Journey._meta.db_table
    indexes = g.secondary_indexes(table)
    for name, _sql in indexes:
        g.run(f'DROP INDEX "{name}"')
    # Waiting: due 1 hour to 30 days ahead (a multiplicative hash of n spreads them). Due: the
    # first --due subscribers, due a minute ago.
    g.run(
        f"INSERT INTO {table} (automation_id, version_id, subscriber_id, status, step_index, due_at, "
        "attempts, entered_at, ended_at, exited_reason) "
        f"SELECT %s, %s, n, 'active', 0, {g.seconds_after(now, '3600 + (n * 2654435761) %% 2588400')}, "
        "0, %s, NULL, '' FROM bench_n WHERE n > %s",
        (automation.pk, version.pk, g.value(Journey, "due_at", now), created, args.due),
    )
    g.run(
        f"INSERT INTO {table} (automation_id, version_id, subscriber_id, status, step_index, due_at, "
        "attempts, entered_at, ended_at, exited_reason) "
        "SELECT %s, %s, n, 'active', 0, %s, 0, %s, NULL, '' FROM bench_n WHERE n <= %s",
        (automation.pk, version.pk, g.value(Journey, "due_at", now - timedelta(minutes=1)), created, args.due),
    )
    for _name, sql in indexes:
        g.run(sql)
    g.reset_sequences([Journey])
    build_newsletter(g, now=now, history=args.history)
    g.run("DROP TABLE bench_n")
    g.run("ANALYZE")
    say(f"generated {args.journeys:,} journeys ({args.due:,} due) in {time.perf_counter() - started:.1f} s")


def build_newsletter(g: Generator, *, now, history: int) -> None:
    """Every subscriber on the list "bench", with ``history`` newsletters, a day apart, the last two
    days ago; every third subscriber got one more two hours ago."""
    from campaigns.models import Campaign, Delivery
    from subscribers.models import MailingList, Subscription

    news = MailingList.objects.create(name="Bench", slug="bench")
    confirmed = g.value(Subscription, "created_at", now - timedelta(days=60))
    g.run(
        "INSERT INTO subscribers_subscription (status, confirmation_nonce, created_at, confirmed_at, "
        "mailing_list_id, subscriber_id) SELECT 'active', '', %s, %s, %s, n FROM bench_n",
        (confirmed, confirmed, news.pk),
    )
    indexes = g.secondary_indexes(Delivery._meta.db_table)
    for name, _sql in indexes:
        g.run(f'DROP INDEX "{name}"')
    for days_ago in [*range(history + 1, 1, -1), 0]:
        campaign = Campaign.objects.create(
            name=f"{days_ago} days ago",
            subject="Neues",
            from_name="Kanal",
            from_email="news@example.com",
            status="sent",
        )
        every_third = "" if days_ago else " WHERE n %% 3 = 0"
        g.run(
            "INSERT INTO campaigns_delivery (status, claim, attempts, sent_at, esp_message_id, error, campaign_id, "
            f"subscriber_id, occurrence) SELECT %s, '', 1, %s, '', '', %s, n, 0 FROM bench_n{every_third}",
            (Delivery.Status.SENT, g.value(Delivery, "sent_at", now - timedelta(days=days_ago, hours=2)), campaign.pk),
        )
    for _name, sql in indexes:
        g.run(sql)
    g.reset_sequences([Subscription, Delivery])


def slots_free() -> None:
    """Free the runner slots the last tick took, as finished runners would (not timed)."""
    from django.conf import settings

    from automations import services

    for slot in range(settings.KANAL_AUTOMATION_RUNNERS):
        services.runner_slot_free(slot)


def timed_ticks(count: int) -> tuple[list[float], int]:
    from automations.services import automations_tick

    times, queued = [], 0
    for _tick in range(count):
        slots_free()
        start = time.perf_counter()
        queued = automations_tick()
        times.append(time.perf_counter() - start)
    slots_free()
    return times, queued


def timed_selections(count: int) -> tuple[list[float], int]:
    """The selection a round starts with, in a transaction rolled back."""
    from django.db import transaction
    from django.utils import timezone

    from automations.services import _journeys_due

    times, selected = [], 0
    for _round in range(count):
        with transaction.atomic():
            start = time.perf_counter()
            selected = len(_journeys_due(now=timezone.now()))
            times.append(time.perf_counter() - start)
            transaction.set_rollback(True)
    return times, selected


def explain(label: str, queryset) -> None:
    from django.db import connection

    plan = queryset.explain(analyze=True) if connection.vendor == "postgresql" else queryset.explain()
    say(f"plan of the {label}:")
    for line in plan.splitlines():
        say(f"    {line}")


def plans() -> None:
    from django.utils import timezone

    from automations import services

    due = services._due(now=timezone.now())
    explain("tick's question (any due?)", due.order_by().values("pk")[:1])
    explain("round's selection (locked ids)", due.order_by("due_at").values("pk")[: services.ROUND_SIZE])


def report(label: str, times: list[float]) -> None:
    say(
        f"{label}: median {statistics.median(times) * 1000:,.1f} ms "
        f"(min {min(times) * 1000:,.1f}, max {max(times) * 1000:,.1f}, {len(times)} ticks)"
    )


def bench_tick(args) -> None:
    """The scheduler: ticks and round selections with the due journeys, then with nothing due."""
    from django.conf import settings
    from django.utils import timezone

    from automations import services
    from automations.models import Journey

    say(f"{settings.KANAL_AUTOMATION_RUNNERS} runner slots, rounds of {services.ROUND_SIZE} journeys")
    timed_ticks(1)  # warm the caches
    times, queued = timed_ticks(args.ticks)
    report(f"tick with {args.due:,} due journeys ({queued} runners queued)", times)
    times, selected = timed_selections(args.ticks)
    report(f"round's selection with {args.due:,} due ({selected} taken)", times)
    plans()
    due = Journey.objects.filter(status=Journey.Status.ACTIVE, due_at__lte=timezone.now())
    due_ids = list(due.values_list("pk", flat=True))
    due.update(due_at=timezone.now() + timedelta(days=31))
    times, queued = timed_ticks(args.ticks)
    report(f"tick with nothing due ({queued} runners queued)", times)
    times, selected = timed_selections(args.ticks)
    report(f"round's selection with nothing due ({selected} taken)", times)
    Journey.objects.filter(pk__in=due_ids).update(due_at=timezone.now() - timedelta(minutes=1))
    waiting = Journey.objects.filter(status=Journey.Status.ACTIVE).count()
    say(f"active journeys: {waiting:,}")


def bench_cap_snapshot(args) -> None:
    """A newsletter's delivery snapshot to every subscriber with a cap of one mail a day (a third
    of them skipped) and with the campaign bypassing the cap; each run rolled back."""
    from django.db import transaction

    from campaigns.models import Campaign, Delivery, FrequencyCap
    from campaigns.selectors import subscribers_over_frequency_cap_q
    from campaigns.services.sending import deliveries_snapshot
    from subscribers.models import MailingList, Subscriber

    news = MailingList.objects.get(slug="bench")
    FrequencyCap.objects.update_or_create(period=FrequencyCap.Period.DAY, defaults={"max_mails": 1})
    for bypass in (True, False):
        times = []
        for _run in range(args.runs):
            with transaction.atomic():
                campaign = Campaign.objects.create(
                    name="Capped",
                    subject="Neues",
                    from_name="Kanal",
                    from_email="news@example.com",
                    bypasses_frequency_cap=bypass,
                )
                campaign.mailing_lists.set([news])
                start = time.perf_counter()
                added = deliveries_snapshot(campaign=campaign)
                times.append(time.perf_counter() - start)
                skipped = campaign.deliveries.filter(status=Delivery.Status.SKIPPED).count()
                transaction.set_rollback(True)
        label = "bypassing the cap" if bypass else "with a cap of 1 a day"
        if not bypass:
            explain("over-cap check", Subscriber.objects.filter(subscribers_over_frequency_cap_q()).values("pk"))
        say(
            f"snapshot {label}: median {statistics.median(times):.2f} s for {added:,} deliveries, "
            f"{skipped:,} skipped ({len(times)} runs)"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--ticks", type=int, default=7)
    parser.add_argument("--history", type=int, default=5, help="earlier newsletters to everyone, a day apart")
    parser.add_argument("--runs", type=int, default=3, help="snapshots per variant")
    parser.add_argument("--skip-snapshot", action="store_true", help="only the scheduler's ticks")
    parser.add_argument("--keep", action="store_true", help="reuse the database of the last run (no generation)")
    args = parser.parse_args(argv)
    if args.database == "postgres":
        if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
            os.environ["DATABASE_URL"] = f"postgres://{getpass.getuser()}@127.0.0.1:5432/postgres"
    else:
        os.environ.pop("DATABASE_URL", None)
    database = bench_database(DATABASE_NAME, bench_dir=BENCH_DIR, keep=args.keep)
    setup_django()
    say(f"database: {database}")
    if not args.keep:
        build(args)
    bench_tick(args)
    if not args.skip_snapshot:
        bench_cap_snapshot(args)
