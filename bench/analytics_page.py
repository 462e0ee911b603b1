"""Render the analytics page of a campaign with 1,000,000 tracking events and print how long it takes.

    .venv/bin/python bench/analytics_page.py [--events 1000000] [--recipients 100000] [--runs 9]

What it builds, and how honestly:

1. A list of ``--recipients`` subscribers (70 % agreed to individual tracking, a realistic mix
   of mailbox domains), one campaign with six articles and its tracked links registered by the
   real sending code, and one sent delivery per subscriber (bulk INSERTs).
2. ``--events`` opens and clicks spread over the week after sending, from a mix of mail clients,
   Apple's privacy proxy and link scanners. They are bulk-inserted into the events table as the
   batcher's store step leaves them (delivery kept only with consent, machine label from
   ``tracking.machines.label_single``, the function the store step calls, once per kind and user
   agent since every event comes 30 s or more after sending; ``counted`` false):
   generating them through HTTP and Redis would only measure the endpoints, which
   bench/tracking_load.py does.
3. The **real** counting step of the batcher (``tracking.services.events.events_count``, what
   ``events_process`` runs after draining Redis) then labels bursts and fills every counter table
   (hourly campaign/article/link counters, clients, domains, last interactions) from those
   events: all 1,000,000, no counter is written by this script. Its time is printed too.
4. The campaign page is fetched ``--runs`` times as a logged-in staff user through Django's test
   client (the whole middleware stack, template rendering included). The first fetch fills the
   cache of mails sent per recipient domain (one grouped query over the deliveries); it is
   printed on its own, and the median of the other fetches is the figure. Target: under 300 ms.

5. The hourly engagement task's two steps are timed (scores, then the audience page's figures),
   and the audience page is fetched ``--runs`` times before the second step (its figures computed
   per request, as on a fresh install) and after it (the stored figures). Target: under 500 ms.
   Its figures depend on subscribers, subscriptions and engagement rows, not on raw events: a
   run with ``--recipients 1000000 --events 100000`` measures it at a million subscribers.

The database is SQLite in var/bench/analytics/ unless DATABASE_URL is set (PostgreSQL: a database
named by ``--database``, kanal_bench_analytics by default, is created next to the one in the URL).
Redis (the page's cache) is the embedded one unless REDIS_URL is set.
"""

import argparse
import random
import statistics
import time
import uuid
from datetime import timedelta
from pathlib import Path

from benchenv import bench_database, say, setup_django

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "var" / "bench" / "analytics"
DOMAINS = [
    ("gmail.com", 24),
    ("web.de", 16),
    ("gmx.de", 15),
    ("t-online.de", 10),
    ("outlook.com", 8),
    ("icloud.com", 7),
    ("yahoo.com", 4),
    ("posteo.de", 3),
    ("mailbox.org", 2),
    ("firma-a.de", 1),
    ("firma-b.de", 1),
]
AGENTS = [
    # (user agent, share of opens, share of clicks)
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        22,
        10,
    ),
    ("Mozilla/5.0", 25, 0),  # Apple Mail Privacy Protection
    ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)", 14, 8),
    ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", 15, 0),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        5,
        30,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
        "Mobile Safari/537.36",
        8,
        25,
    ),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)", 7, 5),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1", 2, 2),
    ("Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0) Proofpoint URL Defense", 0, 12),
    ("python-requests/2.32", 2, 8),
]


def weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights, k=1)[0]


def build_campaign(recipients: int, started):
    from django.db import transaction

    from campaigns.models import Article, Campaign, Delivery
    from campaigns.rendering import compile_campaign
    from newsletter_site.bulk import insert_rows
    from subscribers.models import MailingList
    from subscribers.tests.factories import bulk_active_subscribers
    from tracking.services import campaign_links_register

    rng = random.Random(7)
    mailing_list = MailingList.objects.create(name="Bench", slug="bench")
    with transaction.atomic():
        subscriber_ids = bulk_active_subscribers(
            emails=[f"r{n}@{weighted(rng, DOMAINS)}" for n in range(recipients)],
            tracking_consent=[rng.random() < 0.7 for _n in range(recipients)],
            mailing_list=mailing_list,
            at=started - timedelta(days=30),
        )
    campaign = Campaign.objects.create(
        name="Bench: 1M events",
        subject="Neues aus dem Kanal",
        from_name="Kanal",
        from_email="news@example.com",
        status=Campaign.Status.SENT,
        started_at=started,
        finished_at=started + timedelta(minutes=20),
    )
    campaign.mailing_lists.set([mailing_list])
    for position in range(6):
        Article.objects.create(
            campaign=campaign,
            position=position,
            headline=f"Artikel {position + 1}",
            body=f"Text mit [einem Link](https://example.org/{position}/mehr) und [noch einem](https://example.org/{position}/quelle).",
            link_url=f"https://example.org/{position}",
            cta_text="Weiterlesen",
        )
    link_ids = campaign_links_register(campaign=campaign, compiled=compile_campaign(campaign))
    with transaction.atomic():
        insert_rows(
            Delivery,
            columns=("subscriber",),
            rows=[(pk,) for pk in subscriber_ids],
            constants={
                "campaign": campaign.pk,
                "status": Delivery.Status.SENT,
                "claim": "",
                "attempts": 1,
                "occurrence": 0,
                "sent_at": started,
                "esp_message_id": "",
                "error": "",
            },
        )
    return campaign, link_ids


def insert_events(campaign, link_ids: list[int], count: int, started) -> None:
    from django.db import connection, transaction

    from campaigns.models import Delivery
    from newsletter_site.bulk import insert_rows
    from tracking import machines
    from tracking.models import Event, TrackedLink
    from tracking.services.events import EVENT_COLUMNS

    rng = random.Random(11)
    deliveries = list(
        Delivery.objects.filter(campaign=campaign).values_list("pk", "subscriber__tracking_consent").order_by("pk")
    )
    # About 45 % of recipients react at all; those who do open, re-open and click several times.
    readers = rng.sample(deliveries, k=max(1, int(len(deliveries) * 0.45)))
    articles = dict(TrackedLink.objects.filter(pk__in=link_ids).values_list("pk", "article_id"))
    open_agents = [(agent, share) for agent, share, _clicks in AGENTS if share]
    click_agents = [(agent, share) for agent, _opens, share in AGENTS if share]
    uid_field = Event._meta.get_field("uid")
    occurred_field = Event._meta.get_field("occurred_at")
    labels: dict[tuple[str, str], str] = {}
    chunk = 50_000
    for first in range(0, count, chunk):
        rows = []
        for _n in range(first, min(count, first + chunk)):
            delivery_id, consent = readers[rng.randrange(len(readers))]
            is_click = rng.random() < 0.3
            agent = weighted(rng, click_agents if is_click else open_agents)
            # Most reading happens in the first hours; a long tail runs through the week.
            occurred_at = started + timedelta(seconds=min(7 * 86400, 30 + rng.expovariate(1 / 14_000)))
            kind = Event.Kind.CLICK if is_click else Event.Kind.OPEN
            link_id = rng.choice(link_ids) if is_click else None
            if (kind, agent) not in labels:
                # Every event here comes 30 s or more after sending, so the label depends only on these two.
                labels[(kind, agent)] = machines.label_single(
                    kind=kind,
                    head=False,
                    user_agent=agent,
                    occurred_at=occurred_at,
                    sent_at=started,
                    scanner_seconds=10,
                )
            reason = labels[(kind, agent)]
            rows.append(
                (
                    uid_field.get_db_prep_save(uuid.UUID(int=rng.getrandbits(128)), connection),
                    kind,
                    campaign.pk,
                    delivery_id if consent else None,
                    link_id,
                    articles.get(link_id),
                    occurred_field.get_db_prep_save(occurred_at, connection),
                    agent,
                    "",
                    bool(reason),
                    reason,
                    None,  # message_id: campaign events only
                    None,  # message_link
                )
            )
        with transaction.atomic():
            insert_rows(Event, columns=EVENT_COLUMNS, rows=rows, constants={"counted": False})


def count_events(cutoff) -> int:
    from tracking.services.events import events_count

    counted = 0
    while True:
        done = events_count(cutoff=cutoff, limit=5000)
        counted += done
        if done < 5000:
            return counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--database", default="kanal_bench_analytics", help="PostgreSQL database to (re)create for the bench"
    )
    args = parser.parse_args()

    database = bench_database(
        args.database,
        bench_dir=BENCH_DIR,
        # The test client speaks plain http; an https SITE_URL would otherwise redirect it.
        extra_env={"SITE_URL": "https://news.example.com", "KANAL_SSL_REDIRECT": "0"},
    )
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from campaigns.models import Delivery
    from tracking import selectors
    from tracking.models import CampaignHourStats, Event

    say(f"database: {database}; {args.recipients:,} recipients, {args.events:,} events")
    started = timezone.now() - timedelta(days=8)
    clock = time.perf_counter()
    campaign, link_ids = build_campaign(args.recipients, started)
    say(f"subscribers, campaign, {len(link_ids)} links, deliveries: {time.perf_counter() - clock:.1f} s")
    clock = time.perf_counter()
    insert_events(campaign, link_ids, args.events, started)
    say(f"events bulk-inserted (as the batcher's store step leaves them): {time.perf_counter() - clock:.1f} s")
    clock = time.perf_counter()
    counted = count_events(cutoff=timezone.now())
    elapsed = time.perf_counter() - clock
    say(f"real batcher counting step: {counted:,} events in {elapsed:.1f} s ({counted / elapsed:,.0f} events/s)")
    stored = Event.objects.filter(campaign=campaign).count()
    uncounted = Event.objects.filter(campaign=campaign, counted=False).count()
    funnel = selectors.campaign_funnel(campaign=campaign, machines=True)
    machine = funnel.machine_opens + funnel.machine_clicks
    say(
        f"check: {stored:,} events stored, {uncounted} left uncounted; counters hold "
        f"{funnel.opens + funnel.clicks:,} opens and clicks ({machine:,} machine), "
        f"{CampaignHourStats.objects.filter(campaign=campaign).count()} campaign-hour rows"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    user = get_user_model().objects.create_superuser("bench", "bench@example.org", "bench")
    client = Client()
    client.force_login(user)
    url = f"/staff/analytics/campaigns/{campaign.pk}/"
    sent = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()
    cache.delete(selectors.campaigns.recipient_domains_cache_key(campaign_id=campaign.pk, sent=sent))
    timings = []
    for _run in range(args.runs + 1):
        with CaptureQueriesContext(connection) as queries:
            clock = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - clock) * 1000)
        assert response.status_code == 200, response.status_code
        assert not [query for query in queries if '"tracking_event"' in query["sql"]], "the page read raw events"
    cold, warm = timings[0], timings[1:]
    say(f"campaign page, first fetch (fills the recipient-domain cache): {cold:.0f} ms")
    say(
        f"campaign page, median of {len(warm)} fetches: {statistics.median(warm):.0f} ms "
        f"(min {min(warm):.0f}, max {max(warm):.0f}; {len(queries)} queries, none on the events table, "
        f"{len(response.content) // 1024} KB) — target < 300 ms"
    )
    machines_timings = []
    for _run in range(args.runs):
        clock = time.perf_counter()
        client.get(url + "?machines=1")
        machines_timings.append((time.perf_counter() - clock) * 1000)
    say(f"campaign page with machines, median: {statistics.median(machines_timings):.0f} ms")
    clock = time.perf_counter()
    client.get("/staff/analytics/")
    say(f"campaign list: {(time.perf_counter() - clock) * 1000:.0f} ms")
    from tracking.models import AudienceSummary
    from tracking.services.audience import audience_summary_refresh
    from tracking.services.engagement import engagement_refresh

    clock = time.perf_counter()
    scored = engagement_refresh()
    say(
        f"engagement scores recomputed (the hourly task): {scored:,} subscribers in {time.perf_counter() - clock:.1f} s"
    )

    def audience_page(label: str) -> None:
        timings = []
        for _run in range(args.runs + 1):
            clock = time.perf_counter()
            response = client.get("/staff/analytics/audience/")
            timings.append((time.perf_counter() - clock) * 1000)
            assert response.status_code == 200, response.status_code
        say(
            f"audience page ({args.recipients:,} subscribers), {label}, median of {args.runs} fetches: "
            f"{statistics.median(timings[1:]):.0f} ms (first {timings[0]:.0f}, min {min(timings[1:]):.0f}, "
            f"max {max(timings[1:]):.0f}) — target < 500 ms"
        )

    AudienceSummary.objects.all().delete()
    audience_page("figures computed per request (no stored figures yet)")
    clock = time.perf_counter()
    stored = audience_summary_refresh()
    say(
        f"audience figures stored (the hourly task's second step): {stored} rows in {time.perf_counter() - clock:.1f} s"
    )
    audience_page("stored figures")


if __name__ == "__main__":
    main()
