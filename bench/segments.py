"""Count a six-condition segment over a large audience and snapshot it into deliveries; print the figures.

    .venv/bin/python bench/segments.py [--subscribers 1000000] [--campaigns 10] [--events 20000000]
                                       [--answers 200000] [--runs 5]

What it builds (bulk INSERTs, no ORM objects per row):

1. ``--subscribers`` active subscribers on one list (70 % with tracking consent, 10 % English),
   30 % of them also on a second list "Kiez", 5 % tagged "vip".
2. ``--campaigns`` sent campaigns, each with one delivery per subscriber.
3. ``--events`` opens and clicks on deliveries of subscribers with consent (as the batcher stores
   them: no delivery without consent), 25 % machine-labelled, spread over the campaigns.
4. One survey with a recommendation (NPS) question and ``--answers`` responses with a score.

The segment has six conditions: opened the last campaign (behaviour), did not click the one
before (behaviour), NPS promoter in the newest survey (dialogue), on list "Kiez", NOT tagged
"vip", language German. (The custom-field condition comes with the custom fields; until then
the tag stands in for it.) Printed: the time of ``segment_count`` (median of ``--runs``), the
``EXPLAIN`` of its query, and the time of the delivery snapshot of a campaign using the segment
(one INSERT … SELECT). Targets: count < 500 ms on PostgreSQL (< 2 s on SQLite), snapshot < 10 s.

The database is SQLite in var/bench/segments/ unless DATABASE_URL is set (PostgreSQL: a database
named kanal_bench_segments is created next to the one in the URL).
"""

import argparse
import os
import random
import re
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "var" / "bench" / "segments"
CHUNK = 50_000


def say(message: str) -> None:
    print(message, flush=True)


def configure_environment() -> str:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.update({"KANAL_VAR_DIR": str(BENCH_DIR), "DJANGO_SETTINGS_MODULE": "newsletter_site.settings"})
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(re.sub(r"/[^/]*$", "/postgres", url), autocommit=True) as connection:
            connection.execute("DROP DATABASE IF EXISTS kanal_bench_segments WITH (FORCE)")
            connection.execute("CREATE DATABASE kanal_bench_segments")
        os.environ["DATABASE_URL"] = re.sub(r"/[^/]*$", "/kanal_bench_segments", url)
        return "PostgreSQL"
    database = BENCH_DIR / "bench.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    return "SQLite"


def setup_django() -> None:
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if settings.REDIS_EMBEDDED:
        from newsletter_site import redis_server

        redis_server.ensure_running_until_exit(settings.REDIS_SOCKET)
    call_command("migrate", verbosity=0)


def timed(label: str):
    class Timer:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            say(f"{label}: {time.perf_counter() - self.start:.1f} s")

    return Timer()


def build(args, rng: random.Random, started):
    from django.db import transaction

    from campaigns.models import Campaign, Delivery
    from newsletter_site.bulk import insert_rows
    from subscribers.models import MailingList, Subscriber, Subscription, Tag
    from subscribers.tests.factories import bulk_active_subscribers

    main_list = MailingList.objects.create(name="Bench", slug="bench")
    kiez = MailingList.objects.create(name="Kiez", slug="kiez")
    vip = Tag.objects.create(name="vip")
    ids = []
    for first in range(0, args.subscribers, CHUNK):
        emails = [f"r{n}@example.org" for n in range(first, min(args.subscribers, first + CHUNK))]
        with transaction.atomic():
            ids += bulk_active_subscribers(
                emails=emails,
                mailing_list=main_list,
                tracking_consent=[rng.random() < 0.7 for _email in emails],
                at=started - timedelta(days=60),
            )
    english = [pk for pk in ids if rng.random() < 0.1]
    for first in range(0, len(english), CHUNK):
        Subscriber.objects.filter(pk__in=english[first : first + CHUNK]).update(language="en")
    with transaction.atomic():
        insert_rows(
            Subscription,
            columns=("subscriber",),
            rows=[(pk,) for pk in ids if rng.random() < 0.3],
            constants={
                "mailing_list": kiez.pk,
                "status": "active",
                "confirmation_nonce": "",
                "created_at": started,
                "confirmed_at": started,
                "unsubscribed_at": None,
            },
        )
        insert_rows(
            Subscriber.tags.through,
            columns=("subscriber",),
            rows=[(pk,) for pk in ids if rng.random() < 0.05],
            constants={"tag": vip.pk},
        )
    campaigns = []
    for index in range(args.campaigns):
        sent_at = started + timedelta(days=index)
        campaign = Campaign.objects.create(
            name=f"Bench {index + 1}",
            subject="Neues",
            from_name="Kanal",
            from_email="news@example.com",
            status=Campaign.Status.SENT,
            started_at=sent_at,
            finished_at=sent_at,
        )
        campaign.mailing_lists.set([main_list])
        with transaction.atomic():
            insert_rows(
                Delivery,
                columns=("subscriber",),
                rows=[(pk,) for pk in ids],
                constants={
                    "campaign": campaign.pk,
                    "status": Delivery.Status.SENT,
                    "claim": "",
                    "attempts": 1,
                    "sent_at": sent_at,
                    "esp_message_id": "",
                    "error": "",
                },
            )
        campaigns.append(campaign)
    return ids, main_list, kiez, vip, campaigns


def insert_events(args, rng: random.Random, campaigns, started) -> None:
    from django.db import connection, transaction

    from campaigns.models import Delivery
    from newsletter_site.bulk import insert_rows
    from tracking.models import Event
    from tracking.services.events import EVENT_COLUMNS

    uid_field = Event._meta.get_field("uid")
    occurred_field = Event._meta.get_field("occurred_at")
    per_campaign = max(1, args.events // len(campaigns))
    for campaign in campaigns:
        tracked = list(
            Delivery.objects.filter(campaign=campaign, subscriber__tracking_consent=True).values_list("pk", flat=True)
        )
        occurred = occurred_field.get_db_prep_save(campaign.started_at + timedelta(hours=2), connection)
        for first in range(0, per_campaign, CHUNK):
            rows = []
            for _n in range(first, min(per_campaign, first + CHUNK)):
                machine = rng.random() < 0.25
                kind = Event.Kind.CLICK if rng.random() < 0.3 else Event.Kind.OPEN
                rows.append(
                    (
                        uid_field.get_db_prep_save(uuid.UUID(int=rng.getrandbits(128)), connection),
                        kind,
                        campaign.pk,
                        rng.choice(tracked),
                        None,
                        None,
                        occurred,
                        "Mozilla/5.0",
                        "",
                        machine,
                        Event.MachineReason.PROXY_OPEN if machine else "",
                    )
                )
            with transaction.atomic():
                insert_rows(Event, columns=EVENT_COLUMNS, rows=rows, constants={"counted": True})


def insert_answers(args, rng: random.Random, ids, started) -> None:
    from django.db import transaction

    from newsletter_site.bulk import insert_rows
    from surveys.models import Answer, Question, Response, Survey

    survey = Survey.objects.create(title="Bench", slug="bench")
    question = Question.objects.create(survey=survey, kind=Question.Kind.NPS, text="Empfehlen?")
    respondents = rng.sample(ids, k=min(args.answers, len(ids)))
    with transaction.atomic():
        insert_rows(
            Response,
            columns=("subscriber",),
            rows=[(pk,) for pk in respondents],
            constants={"survey": survey.pk, "source": "mail", "created_at": started, "updated_at": started},
        )
        responses = list(Response.objects.filter(survey=survey).values_list("pk", flat=True))
        insert_rows(
            Answer,
            columns=("response", "value"),
            rows=[(pk, rng.randint(0, 10)) for pk in responses],
            constants={"question": question.pk, "text": ""},
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--answers", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    database = configure_environment()
    setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from audience.models import Segment
    from audience.selectors import segment_count, segment_members
    from campaigns.models import Article, Campaign
    from campaigns.services.sending import deliveries_snapshot

    say(
        f"database: {database}; {args.subscribers:,} subscribers, {args.campaigns} campaigns, "
        f"{args.events:,} events, {args.answers:,} answers"
    )
    rng = random.Random(7)
    started = timezone.now() - timedelta(days=args.campaigns + 5)
    with timed("subscribers, lists, tags, campaigns, deliveries"):
        ids, main_list, kiez, vip, campaigns = build(args, rng, started)
    with timed("events"):
        insert_events(args, rng, campaigns, started)
    with timed("survey answers"):
        insert_answers(args, rng, ids, started)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    segment = Segment.objects.create(
        name="Bench",
        rules={
            "op": "and",
            "children": [
                {"kind": "opened_campaign", "campaign": campaigns[-1].pk},
                {"kind": "not_clicked_campaign", "campaign": campaigns[-2 if len(campaigns) > 1 else -1].pk},
                {"kind": "nps_group", "group": "promoter"},
                {"kind": "lists", "lists": [kiez.pk]},
                {"op": "not", "children": [{"kind": "tags", "tags": [vip.pk]}]},
                {"kind": "language", "language": "de"},
            ],
        },
    )
    timings = []
    for _run in range(args.runs):
        clock = time.perf_counter()
        figures = segment_count(segment)
        timings.append((time.perf_counter() - clock) * 1000)
    say(f"segment_count: {figures}")
    say(f"segment_count, median of {args.runs}: {statistics.median(timings):.0f} ms (min {min(timings):.0f})")
    say("EXPLAIN of the members query:")
    say(segment_members(segment).order_by().values("pk").explain())

    campaign = Campaign.objects.create(
        name="Bench follow-up", subject="Neues", from_name="Kanal", from_email="news@example.com", segment=segment
    )
    campaign.mailing_lists.set([main_list])
    Article.objects.create(campaign=campaign, headline="Eins")
    clock = time.perf_counter()
    with transaction.atomic():
        added = deliveries_snapshot(campaign=campaign)
    say(f"delivery snapshot (one INSERT … SELECT): {added:,} rows in {time.perf_counter() - clock:.1f} s")


if __name__ == "__main__":
    main()
