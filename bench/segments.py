"""Count a six-condition segment over a large audience and snapshot it into deliveries; print the figures.

    .venv/bin/python bench/segments.py [--subscribers 1000000] [--campaigns 10] [--events 20000000]
                                       [--answers 200000] [--runs 3] [--keep]

What it builds, all by the database itself (INSERT … SELECT over a numbers table; secondary
indexes of deliveries and events dropped for the insert and built again afterwards):

1. ``--subscribers`` active subscribers on one list (70 % with tracking consent, 10 % English),
   each with 10 custom field values in ``Subscriber.fields`` (city, topics, age, birthday,
   customer, note, four numbers; the shape of bench/custom_fields.py); 30 % of them also on a
   second list "Kiez", 5 % tagged "vip".
2. ``--campaigns`` sent campaigns, a week apart, the last a week ago, each with one delivery per
   subscriber.
3. ``--events`` opens and clicks (30 % clicks, 25 % machine-labelled), evenly over the campaigns,
   on deliveries of subscribers with consent (as the batcher stores them).
4. One survey with a recommendation (NPS) question and ``--answers`` responses with a score.

Values are a hash of the row number, so both databases hold the same rows and count the same.

The segment: opened the last campaign AND clicked any campaign in the last 30 days (two
behaviour conditions) AND NPS promoter in the newest survey AND custom field age >= 40 AND on
list "Kiez" AND NOT tagged "vip". Printed: the time the generation took (not a figure), the
median of ``--runs`` ``segment_count`` calls and of the members count alone (as segment_count runs
it, without PostgreSQL's JIT), the plan of the members count (PostgreSQL: ``EXPLAIN (ANALYZE,
BUFFERS)``, SQLite: ``EXPLAIN QUERY PLAN``) and the time of the delivery snapshot of a campaign
using the segment (one INSERT … SELECT).
Targets: count < 500 ms on PostgreSQL (< 2 s on SQLite), snapshot < 10 s.

The database is SQLite in var/bench/segments/ unless DATABASE_URL is set (PostgreSQL: a database
named kanal_bench_segments, or ``--database-name``, is created next to the one in the URL).
``--keep`` measures again on the database of the last run without generating it.
"""

import argparse
import statistics
import time
from datetime import timedelta
from pathlib import Path

from benchenv import bench_database, say, setup_django
from rowgen import Generator

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "var" / "bench" / "segments"


def timed(label: str):
    class Timer:
        def __enter__(self):
            self.start = time.perf_counter()

        def __exit__(self, *exc):
            say(f"{label}: {time.perf_counter() - self.start:.1f} s")

    return Timer()


# Pseudo-random but the same on both databases: a multiplicative hash of a row number into 0..99.
def pct(expression: str, salt: int) -> str:
    return f"((({expression}) * {2654435761 + 2 * salt} + {salt * 7919}) %% 1000003 %% 100)"


CITIES = ["berlin", "koeln", "wien", "hamburg", "graz"]
TOPICS = ["sport", "kultur", "politik", "reisen", "technik"]


def fields_json(n: str) -> str:
    """Ten custom field values as JSON text, as the forms store them (bench/custom_fields.py's shape)."""

    def pick(values, salt):
        return (
            "CASE "
            + " ".join(f"WHEN {pct(n, salt)} < {20 * (i + 1)} THEN '{v}'" for i, v in enumerate(values))
            + " END"
        )

    topics = (
        "CASE WHEN " + pct(n, 12) + " < 30 THEN '' "
        f"WHEN {pct(n, 12)} < 60 THEN ',\"topics\":[\"' || {pick(TOPICS, 13)} || '\"]' "
        f'ELSE \',"topics":["kultur","\' || {pick(TOPICS, 14)} || \'"]\' END'
    )
    return (
        f"'{{\"city\":\"' || {pick(CITIES, 11)} || '\"'"
        f" || ',\"age\":' || (18 + {pct(n, 15)} * 72 / 100)"
        f" || ',\"birthday\":\"' || (1940 + {pct(n, 16)} * 65 / 100) || '-0' || (1 + {pct(n, 17)} %% 9)"
        f" || '-1' || ({pct(n, 18)} %% 9) || '\"'"
        f" || ',\"customer\":' || CASE WHEN {pct(n, 19)} < 30 THEN 'true' ELSE 'false' END"
        f" || ',\"note\":\"' || CASE WHEN {pct(n, 20)} < 33 THEN 'abends lesen' ELSE 'morgens' END || '\"'"
        + "".join(f" || ',\"extra{i}\":' || ({pct(n, 21 + i)} * 10)" for i in range(4))
        + f" || {topics} || '}}'"
    )


def build(args, started):
    from django.db import connection

    from campaigns.models import Campaign, Delivery
    from subscribers.models import CustomField, MailingList, Subscriber, Subscription, Tag
    from surveys.models import Answer, Question, Response, Survey
    from tracking.models import Event

    g = Generator(connection)
    n_subscribers = args.subscribers
    per_campaign = max(1, args.events // args.campaigns)
    # Events are drawn among subscribers with consent (about 70 %), so draw from more numbers than needed.
    g.numbers(max(n_subscribers, per_campaign * 3 // 2 + 1000, args.answers))
    main_list = MailingList.objects.create(name="Bench", slug="bench")
    kiez = MailingList.objects.create(name="Kiez", slug="kiez")
    vip = Tag.objects.create(name="vip")
    options = lambda values: [{"value": v, "label_de": v, "label_en": v} for v in values]  # noqa: E731
    fields = {
        "city": CustomField.objects.create(
            key="city", label_de="c", label_en="c", kind="choice", choices=options(CITIES)
        ),
        "topics": CustomField.objects.create(
            key="topics", label_de="t", label_en="t", kind="multiple_choice", choices=options(TOPICS)
        ),
        "age": CustomField.objects.create(key="age", label_de="a", label_en="a", kind="number"),
        "birthday": CustomField.objects.create(key="birthday", label_de="b", label_en="b", kind="date"),
        "customer": CustomField.objects.create(key="customer", label_de="k", label_en="k", kind="boolean"),
        "note": CustomField.objects.create(key="note", label_de="n", label_en="n", kind="text"),
        **{
            f"extra{i}": CustomField.objects.create(key=f"extra{i}", label_de="x", label_en="x", kind="number")
            for i in range(4)
        },
    }
    signed_up = g.value(Subscriber, "created_at", started - timedelta(days=60))
    with timed("  subscribers (10 custom fields each), subscriptions, tags"):
        g.run(
            "INSERT INTO subscribers_subscriber (id, public_id, email, first_name, last_name, language, status, "
            "tracking_consent, created_at, updated_at, token_version, fields) "
            f"SELECT n, {g.hex_id('n')}, 'r' || n || '@example.org', '', '', "
            f"CASE WHEN {pct('n', 1)} < 10 THEN 'en' ELSE 'de' END, 'active', {pct('n', 2)} < 70, %s, %s, 0, "
            f"{g.json(fields_json('n'))} FROM bench_n WHERE n <= %s",
            (signed_up, signed_up, n_subscribers),
        )
        subscribed = (
            "INSERT INTO subscribers_subscription (status, confirmation_nonce, created_at, confirmed_at, "
            "mailing_list_id, subscriber_id) SELECT 'active', '', %s, %s, %s, n FROM bench_n WHERE n <= %s"
        )
        g.run(subscribed, (signed_up, signed_up, main_list.pk, n_subscribers))
        g.run(subscribed + f" AND {pct('n', 3)} < 30", (signed_up, signed_up, kiez.pk, n_subscribers))
        g.run(
            "INSERT INTO subscribers_subscriber_tags (subscriber_id, tag_id) "
            f"SELECT n, %s FROM bench_n WHERE n <= %s AND {pct('n', 4)} < 5",
            (vip.pk, n_subscribers),
        )
    campaigns = []
    for index in range(args.campaigns):
        # Weekly, the last one a week ago: "in the last 30 days" takes the last four.
        sent_at = started + timedelta(days=7 * index)
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
        campaigns.append(campaign)
    with timed("  deliveries"), g.without_indexes("campaigns_delivery"):
        for index, campaign in enumerate(campaigns):
            # Delivery id = index × subscribers + subscriber id, so events can name it without a lookup.
            g.run(
                "INSERT INTO campaigns_delivery (id, status, claim, attempts, sent_at, esp_message_id, error, "
                "campaign_id, subscriber_id, occurrence) "
                f"SELECT {index * n_subscribers} + n, %s, '', 1, %s, '', '', %s, n, 0 "
                "FROM bench_n WHERE n <= %s",
                (Delivery.Status.SENT, g.value(Delivery, "sent_at", campaign.started_at), campaign.pk, n_subscribers),
            )
    with timed("  events"), g.without_indexes("tracking_event"):
        for index, campaign in enumerate(campaigns):
            # Subscriber 1 + (n × odd) mod N runs through every subscriber once per N numbers; those
            # without consent are skipped (the batcher stores no delivery for them).
            drawn = f"(1 + (b.n * 2654435761 + {index * 7919}) %% {n_subscribers})"
            occurred = g.value(Event, "occurred_at", campaign.started_at + timedelta(hours=2))
            g.run(
                "INSERT INTO tracking_event (uid, kind, occurred_at, user_agent, ip_hash, is_machine, machine_reason, "
                "counted, campaign_id, delivery_id) "
                f"SELECT {g.hex_id(f'{index} * 100000000 + b.n')}, "
                f"CASE WHEN {pct('b.n', 5)} < 30 THEN %s ELSE %s END, %s, 'Mozilla/5.0', '', {pct('b.n', 6)} < 25, "
                f"CASE WHEN {pct('b.n', 6)} < 25 THEN %s ELSE '' END, {'true' if g.postgres else '1'}, %s, "
                f"{index * n_subscribers} + s.id "
                f"FROM bench_n b JOIN subscribers_subscriber s ON s.id = {drawn} "
                "WHERE s.tracking_consent ORDER BY b.n LIMIT %s",
                (
                    Event.Kind.CLICK,
                    Event.Kind.OPEN,
                    occurred,
                    Event.MachineReason.PROXY_OPEN,
                    campaign.pk,
                    per_campaign,
                ),
            )
    survey = Survey.objects.create(title="Bench", slug="bench")
    question = Question.objects.create(survey=survey, kind=Question.Kind.NPS, text="Empfehlen?")
    answered = g.value(Response, "created_at", started)
    with timed("  survey answers"):
        # 1 + (n × odd) mod N is one-to-one for n ≤ N: one response per subscriber at most.
        g.run(
            "INSERT INTO surveys_response (id, source, created_at, updated_at, subscriber_id, survey_id) "
            f"SELECT n, 'mail', %s, %s, 1 + (n * 2654435761) %% {n_subscribers}, %s FROM bench_n WHERE n <= %s",
            (answered, answered, survey.pk, min(args.answers, n_subscribers)),
        )
        g.run(
            "INSERT INTO surveys_answer (value, text, question_id, response_id) "
            f"SELECT {pct('n', 7)} %% 11, '', %s, n FROM bench_n WHERE n <= %s",
            (question.pk, min(args.answers, n_subscribers)),
        )
    g.run("DROP TABLE bench_n")
    g.reset_sequences([Subscriber, Subscription, Delivery, Event, Response, Answer])
    return main_list, kiez, vip, campaigns, fields


def counting_sql(queryset) -> tuple[str, tuple]:
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    return f"SELECT COUNT(*) FROM ({sql}) members", params


def median_ms(function, runs: int) -> tuple[object, float]:
    timings = []
    for _run in range(runs):
        clock = time.perf_counter()
        result = function()
        timings.append((time.perf_counter() - clock) * 1000)
    return result, statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--answers", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="reuse the database of the last run (no generation)")
    parser.add_argument(
        "--database-name",
        default="kanal_bench_segments",
        help="PostgreSQL database to create or reuse, next to the one in DATABASE_URL (default: %(default)s)",
    )
    args = parser.parse_args()

    database = bench_database(args.database_name, bench_dir=BENCH_DIR, keep=args.keep)
    setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from audience.models import Segment
    from audience.selectors import segment_count, segment_members
    from campaigns.models import Article, Campaign
    from campaigns.services.sending import deliveries_snapshot
    from newsletter_site.planner import without_jit
    from subscribers.models import CustomField, MailingList, Tag

    say(
        f"database: {database}; {args.subscribers:,} subscribers with 10 custom fields, {args.campaigns} campaigns, "
        f"{args.events:,} events, {args.answers:,} answers"
    )
    if not args.keep:
        started = timezone.now() - timedelta(days=7 * args.campaigns)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET maintenance_work_mem = '1GB'")
            else:
                cursor.execute("PRAGMA cache_size = -1000000")
                cursor.execute("PRAGMA synchronous = OFF")
        with timed("generated (not a figure)"):
            build(args, started)
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    main_list, kiez = MailingList.objects.get(slug="bench"), MailingList.objects.get(slug="kiez")
    vip = Tag.objects.get(name="vip")
    age = CustomField.objects.get(key="age")
    campaigns = list(Campaign.objects.filter(name__startswith="Bench ").order_by("pk"))
    Segment.objects.filter(name="Bench").delete()
    segment = Segment.objects.create(
        name="Bench",
        rules={
            "op": "and",
            "children": [
                {"kind": "opened_campaign", "campaign": campaigns[-1].pk, "include_machine": False},
                {"kind": "read_recently", "action": "clicked", "days": 30, "include_machine": False},
                {"kind": "nps_group", "group": "promoter", "survey": None},
                {"kind": "custom_field", "field": age.pk, "operator": "gte", "value": "40"},
                {"kind": "lists", "lists": [kiez.pk]},
                {"op": "not", "children": [{"kind": "tags", "tags": [vip.pk]}]},
            ],
        },
    )
    say(
        "segment: opened the last campaign AND clicked any campaign in the last 30 days AND NPS promoter "
        "AND custom field age >= 40 AND on list Kiez AND NOT tagged vip"
    )
    figures, milliseconds = median_ms(lambda: segment_count(segment), args.runs)
    say(f"segment_count: {figures}")
    say(f"segment_count (total, members, left out for consent), median of {args.runs}: {milliseconds:.0f} ms")
    sql, params = counting_sql(segment_members(segment))

    def members_count():
        # As segment_count runs it: without PostgreSQL's JIT.
        with without_jit(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]

    members, milliseconds = median_ms(members_count, args.runs)
    say(f"members count alone ({members:,}), median of {args.runs}: {milliseconds:.0f} ms")
    explain = "EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with without_jit(), connection.cursor() as cursor:
        cursor.execute(explain + sql, params)
        plan = cursor.fetchall()
    say(f"{explain.strip()} of the members count:")
    for row in plan:
        say("  " + (row[0] if connection.vendor == "postgresql" else f"{row[0]:>4} {row[1]:>4} {row[3]}"))

    campaign = Campaign.objects.create(
        name="Segment follow-up", subject="Neues", from_name="Kanal", from_email="news@example.com", segment=segment
    )
    campaign.mailing_lists.set([main_list])
    Article.objects.create(campaign=campaign, headline="Eins")
    clock = time.perf_counter()
    with transaction.atomic():
        added = deliveries_snapshot(campaign=campaign)
    say(f"delivery snapshot (one INSERT … SELECT): {added:,} rows in {time.perf_counter() - clock:.1f} s")
    campaign.delete()


if __name__ == "__main__":
    main()
