"""Does sending each reader at their own best time reach more people? A simulation with known truth.

    .venv/bin/python bench/send_time_eval.py [--readers 1000] [--weeks 8] [--seed 7]

Synthetic readers on one list, each with a true active window (two local hours around a peak:
morning, lunch, evening or any hour) in a true time zone (Berlin via the site's zone, New York
and Tokyo as their own, a few with an unknown zone stored, whose list zone is Berlin). Kinds:
readers with history (70 %), new readers without history (10 %), readers whose mail app opens
everything through a proxy so that only machine-labelled opens exist (10 %), and readers
without tracking consent (10 %).

History: ``--weeks`` of past campaigns, two a week at 10:00 site time. Each reader with history
opens about 60 % of them at a random minute of their next active window; proxy readers' mail is
opened seconds after sending by the proxy. The events are stored as the tracking endpoints store
them and counted by the real batcher (``tracking.services.events.events_count``), whose
``human_events_counted`` signal updates the profiles through the real send-time code.

Then one campaign is scheduled three ways by the real ``sendtime.services.campaign_deliveries_schedule``
(the function ``campaign_start`` calls after the snapshot): (a) everyone at 10:00 local, (b) the
list's best hour, (c) each reader's best hour within 24 hours (fallback: the list's, then 10:00).
From each delivery's ``due_at`` the true model gives the reader's click chance: 30 % when the
mail arrives in their active window, falling by 12 % for each hour it waits in the inbox until
the window comes. Printed per way: expected human click rate, share of readers reached within
their active window; per reader must beat both (exit status 1 otherwise).

The database is SQLite in var/bench/sendtime/ unless DATABASE_URL is set (PostgreSQL: a database
named kanal_bench_sendtime is created next to the one in the URL).
"""

import argparse
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

from benchenv import bench_database, say, setup_django

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "var" / "bench" / "sendtime"

IN_WINDOW_CLICK = 0.30
DECAY_PER_HOUR = 0.88
WINDOW_HOURS = 2


@dataclass
class Reader:
    kind: str  # history, new, proxy, no_consent
    true_zone: ZoneInfo
    stored_zone: str
    peak: int
    subscriber_id: int = 0

    def in_window(self, moment: datetime) -> bool:
        local = moment.astimezone(self.true_zone)
        return (local.hour - (self.peak - 1)) % 24 < WINDOW_HOURS

    def next_window_start(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.true_zone)
        start = local.replace(hour=(self.peak - 1) % 24, minute=0, second=0, microsecond=0)
        while start.astimezone(UTC) < moment:
            start += timedelta(days=1)
        return start.astimezone(UTC)

    def click_chance(self, arrival: datetime) -> float:
        if self.in_window(arrival):
            return IN_WINDOW_CLICK
        hours = (self.next_window_start(arrival) - arrival).total_seconds() / 3600
        return IN_WINDOW_CLICK * DECAY_PER_HOUR**hours


def make_readers(count: int, rng: random.Random) -> list[Reader]:
    zones = [
        (0.6, "Europe/Berlin", ""),
        (0.2, "America/New_York", "America/New_York"),
        (0.15, "Asia/Tokyo", "Asia/Tokyo"),
        (0.05, "Europe/Berlin", "Mars/Olympus_Mons"),  # unknown zone stored; the list's (Berlin) stands in
    ]
    readers = []
    for _index in range(count):
        roll = rng.random()
        kind = "history" if roll < 0.7 else "new" if roll < 0.8 else "proxy" if roll < 0.9 else "no_consent"
        true_zone, stored = rng.choices([(zone, stored) for _share, zone, stored in zones], [w for w, *_ in zones])[0]
        habit = rng.random()
        peak = 7 if habit < 0.25 else 12 if habit < 0.45 else 20 if habit < 0.8 else rng.randrange(6, 24)
        readers.append(Reader(kind=kind, true_zone=ZoneInfo(true_zone), stored_zone=stored, peak=peak))
    return readers


def build_audience(readers: list[Reader]):
    from subscribers.models import MailingList, Subscriber, Subscription

    news = MailingList.objects.create(name="News", slug="news", time_zone="Europe/Berlin")
    subscribers = Subscriber.objects.bulk_create(
        [
            Subscriber(
                email=f"reader{index}@example.org",
                status=Subscriber.Status.ACTIVE,
                tracking_consent=reader.kind != "no_consent",
                time_zone=reader.stored_zone,
            )
            for index, reader in enumerate(readers)
        ]
    )
    Subscription.objects.bulk_create(
        [
            Subscription(subscriber=subscriber, mailing_list=news, status=Subscription.Status.ACTIVE)
            for subscriber in subscribers
        ]
    )
    for reader, subscriber in zip(readers, subscribers, strict=True):
        reader.subscriber_id = subscriber.pk
    return news


def new_campaign(news, name: str):
    from campaigns.models import Article, Campaign

    campaign = Campaign.objects.create(name=name, subject=name)
    campaign.mailing_lists.add(news)
    Article.objects.create(campaign=campaign, headline=name)
    return campaign


def simulate_history(news, readers: list[Reader], *, weeks: int, rng: random.Random) -> tuple[int, int]:
    """Past campaigns and their events, counted by the real batcher. Returns (human, machine) events."""
    from campaigns.models import Campaign, Delivery
    from tracking.models import Event
    from tracking.services import events as event_services

    berlin = ZoneInfo("Europe/Berlin")
    today = datetime.now(UTC).astimezone(berlin).date()
    human = machine = 0
    for number in range(2 * weeks):
        day = today - timedelta(days=int(7 * weeks - number * 3.5))
        sent_at = datetime(day.year, day.month, day.day, 10, 0, tzinfo=berlin).astimezone(UTC)
        campaign = new_campaign(news, f"Past {number + 1}")
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT, started_at=sent_at)
        deliveries = Delivery.objects.bulk_create(
            [
                Delivery(
                    campaign=campaign, subscriber_id=reader.subscriber_id, status=Delivery.Status.SENT, sent_at=sent_at
                )
                for reader in readers
            ]
        )
        events = []
        for reader, delivery in zip(readers, deliveries, strict=True):
            if reader.kind == "new":
                continue
            if reader.kind == "proxy":
                moment, is_machine = sent_at + timedelta(seconds=rng.randrange(5, 90)), True
            elif rng.random() < 0.6:
                window = reader.next_window_start(sent_at)
                moment, is_machine = window + timedelta(minutes=rng.randrange(0, 60 * WINDOW_HOURS)), False
            else:
                continue
            events.append(
                Event(
                    uid=uuid.uuid4(),
                    kind=Event.Kind.OPEN,
                    campaign=campaign,
                    delivery=delivery,
                    occurred_at=moment,
                    ip_hash=f"{delivery.pk:x}"[-16:],
                    user_agent="Mozilla/5.0" if not is_machine else "Mozilla/5.0 (Macintosh) AppleWebKit",
                    is_machine=is_machine,
                    machine_reason=Event.MachineReason.PROXY_OPEN if is_machine else "",
                )
            )
            machine += is_machine
            human += not is_machine
        Event.objects.bulk_create(events)
    cutoff = datetime.now(UTC)
    while event_services.events_count(cutoff=cutoff, limit=2000):
        pass
    return human, machine


def schedule(news, readers: list[Reader], *, name: str, mode: str, local_time) -> dict[int, datetime]:
    from django.db import transaction

    from campaigns.models import Delivery
    from campaigns.services.sending import deliveries_snapshot
    from sendtime.models import CampaignSendTime
    from sendtime.services import campaign_deliveries_schedule

    campaign = new_campaign(news, name)
    CampaignSendTime.objects.create(campaign=campaign, mode=mode, window_hours=24, local_time=local_time)
    with transaction.atomic():
        deliveries_snapshot(campaign=campaign)
        campaign_deliveries_schedule(campaign=campaign)
    now = datetime.now(UTC)
    return {
        subscriber_id: due_at or now
        for subscriber_id, due_at in Delivery.objects.filter(campaign=campaign).values_list("subscriber_id", "due_at")
    }


def evaluate(readers: list[Reader], due: dict[int, datetime]) -> tuple[float, float, dict[str, float]]:
    chances = [reader.click_chance(due[reader.subscriber_id]) for reader in readers]
    reached = [reader.in_window(due[reader.subscriber_id]) for reader in readers]
    by_kind = {}
    for kind in ("history", "new", "proxy", "no_consent"):
        group = [chance for reader, chance in zip(readers, chances, strict=True) if reader.kind == kind]
        by_kind[kind] = sum(group) / len(group) if group else 0.0
    return sum(chances) / len(chances), sum(reached) / len(reached), by_kind


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    database = bench_database("kanal_bench_sendtime", bench_dir=BENCH_DIR)
    setup_django()
    from sendtime.models import CampaignSendTime, SendTimeProfile

    rng = random.Random(args.seed)
    readers = make_readers(args.readers, rng)
    began = time.perf_counter()
    news = build_audience(readers)
    human, machine = simulate_history(news, readers, weeks=args.weeks, rng=rng)
    say(f"{database}, {args.readers} readers, {2 * args.weeks} past campaigns: {human} human, {machine} machine opens")
    say(f"profiles learned: {SendTimeProfile.objects.count()} (history took {time.perf_counter() - began:.1f} s)")

    Mode = CampaignSendTime.Mode
    ways = [
        ("(a) everyone at 10:00 local", Mode.LOCAL_TIME, clock(10, 0)),
        ("(b) the list's best hour", Mode.LIST_BEST_TIME, clock(10, 0)),
        ("(c) each reader's best hour", Mode.BEST_TIME, clock(10, 0)),
    ]
    results = {}
    say()
    say(f"{'way':32} {'click rate':>10} {'in window':>10}   click rate by reader kind")
    for label, mode, local_time in ways:
        due = schedule(news, readers, name=label, mode=mode, local_time=local_time)
        rate, reached, by_kind = evaluate(readers, due)
        results[mode] = rate
        kinds = ", ".join(f"{kind} {value:.1%}" for kind, value in by_kind.items())
        say(f"{label:32} {rate:>10.1%} {reached:>10.1%}   {kinds}")
    option = CampaignSendTime.objects.get(mode=Mode.BEST_TIME)
    say()
    say(
        f"per reader: {option.own_profiles} at their own best hour, {option.list_profiles} at the list's, "
        f"{option.campaign_times} at 10:00; {option.zone_fallbacks} with an unknown time zone"
    )
    better = results[Mode.BEST_TIME] > max(results[Mode.LOCAL_TIME], results[Mode.LIST_BEST_TIME])
    say("per reader beats both: " + ("yes" if better else "NO"))
    return 0 if better else 1


if __name__ == "__main__":
    sys.exit(main())
