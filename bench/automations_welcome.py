"""Automations under load: a welcome series for N people confirmed at once.

    .venv/bin/python bench/automations.py welcome [--database sqlite|postgres] [--subscribers 100000]
        [--workers 1] [--concurrency 4] [--kills 5] [--kill-every 60]

``welcome``: N people confirm their subscription (the real confirmation service,
``optin.subscription_confirm``, one after another as fast as this process can) into a welcome
series "mail, wait 20 s, mail, wait 20 s, mail", while production's worker and beat
(``manage.py kanal_process worker|beat``) run the automation and send to Postfix's smtp-sink; the
workers are killed with SIGKILL ``--kills`` times during the run and started again. Printed:
the confirmation rate; per subscriber the latency from confirmation (``Subscription.confirmed_at``)
to the first mail's ``JourneyStepRun.ran_at`` (handed to the sending pipeline), median, p99 and
max against the 60 s target; then, from smtp-sink's dump directory (one file per message),
missing and duplicate mails per (subscriber, mail).

The database is SQLite in var/bench/automations/ with the embedded Redis; ``--database postgres``
uses DATABASE_URL if it names PostgreSQL, else postgres://postgres@127.0.0.1:5432/postgres, and
creates the database kanal_bench_welcome next to it.
"""

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from email.parser import BytesHeaderParser
from pathlib import Path

import benchenv
from benchenv import free_port, say

REPO = benchenv.REPO
BENCH_DIR = REPO / "var" / "bench" / "automations"
WELCOME_WAIT_SECONDS = 20
TARGET_SECONDS = 60


class DumpingSink:
    """Postfix's smtp-sink writing each message to a file of its own, to count per recipient and subject."""

    def __init__(self, directory: Path):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        directory.chmod(0o777)  # smtp-sink writes as nobody
        self.directory = directory
        self.port = free_port()
        self.process = subprocess.Popen(
            ["smtp-sink", "-u", "nobody", "-d", f"{directory}/%H%M%S.", f"127.0.0.1:{self.port}", "1000"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("smtp-sink did not start")

    def files(self) -> int:
        return sum(1 for _ in os.scandir(self.directory))

    def counts(self) -> Counter:
        """(recipient, subject) -> messages, from the envelope line and the Subject header of each file."""
        parser = BytesHeaderParser()
        counts: Counter = Counter()
        for entry in os.scandir(self.directory):
            with open(entry.path, "rb") as dump:
                head = dump.read(16384).split(b"\n\n", 1)[0]
            headers = parser.parsebytes(head)
            subject = str(headers["Subject"])
            for recipient in headers.get_all("X-Rcpt-Args", []):
                counts[(recipient.strip().strip("<>").split(">")[0], subject)] += 1
        return counts

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


class Processes:
    """Production's worker and beat (``manage.py kanal_process worker|beat``), each in its own session."""

    def __init__(self, env: dict, *, workers: int, concurrency: int):
        self.env = os.environ | env | {"KANAL_WORKER_CONCURRENCY": str(concurrency), "LOG_LEVEL": "WARNING"}
        self.env["PYTHONPATH"] = os.pathsep.join([str(REPO / "bench"), str(REPO)])
        self.log = (BENCH_DIR / "processes.log").open("ab")
        self.beat = self._start("beat")
        self.workers = [self._start("worker") for _ in range(workers)]

    def _start(self, name: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", "kanal_process", name],
            cwd=REPO,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_workers(self) -> None:
        for worker in self.workers:
            _kill(worker, signal.SIGKILL)
        self.workers = [self._start("worker") for _ in self.workers]

    def stop(self) -> None:
        for process in (*self.workers, self.beat):
            _kill(process, signal.SIGTERM)


def _kill(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until_ready(count: int) -> None:
    from newsletter_site.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=0.5) or []) >= count:
            return
    raise SystemExit("the Celery workers did not come up")


# --- welcome series --------------------------------------------------------------------------


def welcome_setup(subscribers: int):
    """N pending sign-ups to one list, three automation mails and the active welcome automation;
    returns the list, the mails and the confirmation tokens."""
    from django.db import connection
    from django.utils import timezone

    from automations import services
    from automations.models import Automation
    from campaigns.models import Article, Campaign
    from newsletter_site.bulk import db_value, insert_rows
    from subscribers import tokens
    from subscribers.models import MailingList, Subscriber, Subscription

    mailing_list = MailingList.objects.create(name="Welcome bench", slug="welcome-bench")
    now = timezone.now()
    insert_rows(
        Subscriber,
        columns=("email", "public_id"),
        rows=[(f"w{n}@example.org", db_value(Subscriber, "public_id", uuid.uuid4())) for n in range(subscribers)],
        constants={
            **{"first_name": "", "last_name": "", "language": "de", "status": "pending", "tracking_consent": False},
            **{"created_at": now, "updated_at": now},
        },
    )
    ids = list(Subscriber.objects.order_by("pk").values_list("pk", flat=True))
    insert_rows(
        Subscription,
        columns=("subscriber", "confirmation_nonce"),
        rows=[(pk, uuid.uuid4().hex) for pk in ids],
        constants={
            **{"mailing_list": mailing_list.pk, "status": "pending", "created_at": now},
            **{"confirmed_at": None, "unsubscribed_at": None},
        },
    )
    confirmation_tokens = [
        tokens.make_confirmation_token(subscription_id=pk, nonce=nonce)
        for pk, nonce in Subscription.objects.order_by("pk").values_list("pk", "confirmation_nonce")
    ]
    mails = []
    for number in (1, 2, 3):
        campaign = Campaign.objects.create(
            name=f"Welcome {number}",
            kind=Campaign.Kind.AUTOMATION,
            subject=f"Welcome {number}",
            from_name="Kanal Redaktion",
            from_email="news@example.com",
            language="de",
        )
        Article.objects.create(
            campaign=campaign, position=0, headline=f"Willkommen, Teil {number}", body="Schön, dass Sie da sind."
        )
        mails.append(campaign)
    wait = {"kind": "wait", "seconds": WELCOME_WAIT_SECONDS}
    automation = Automation(
        name="Welcome series",
        trigger_kind="subscription_confirmed",
        trigger_params={"list": mailing_list.pk},
        steps=[
            {"kind": "mail", "campaign": mails[0].pk},
            wait,
            {"kind": "mail", "campaign": mails[1].pk},
            wait,
            {"kind": "mail", "campaign": mails[2].pk},
        ],
    )
    services.automation_activate(automation=services.automation_save(automation=automation))
    # Statistics as a live database has them (autovacuum), not those of the empty tables.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return mailing_list, mails, confirmation_tokens


class Killer(threading.Thread):
    """Kill the workers every ``every`` seconds (give or take a third), ``times`` times."""

    def __init__(self, processes: Processes, *, times: int, every: float):
        super().__init__(daemon=True)
        self.processes, self.times, self.every = processes, times, every
        self.killed_at: list[float] = []
        self.stop = threading.Event()

    def run(self):
        rng = random.Random(13)
        started = time.monotonic()
        while len(self.killed_at) < self.times and not self.stop.wait(self.every * rng.uniform(0.67, 1.33)):
            self.processes.kill_workers()
            self.killed_at.append(time.monotonic() - started)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def welcome(args) -> None:
    say(f"[welcome] {args.subscribers:,} subscribers, {args.workers} worker(s) x {args.concurrency} processes")
    started = time.perf_counter()
    mailing_list, mails, confirmation_tokens = welcome_setup(args.subscribers)
    say(f"[setup] {args.subscribers:,} pending sign-ups in {time.perf_counter() - started:.1f} s (not measured)")

    from django.conf import settings
    from django.db import connection

    from automations.models import Journey, JourneyStepRun
    from campaigns.models import Delivery
    from subscribers.models import Subscription
    from subscribers.services import optin

    sink = DumpingSink(BENCH_DIR / "sink")
    env = {
        key: os.environ[key]
        for key in ("DATABASE_URL", "KANAL_VAR_DIR", "DJANGO_SETTINGS_MODULE", "REDIS_URL")
        if key in os.environ
    } | {
        **process_settings(),
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
    }
    say(
        "[welcome] worker settings: "
        + ", ".join(f"{key}={value}" for key, value in process_settings().items())
        + f"; database {connection.vendor}, Redis {'embedded' if settings.REDIS_EMBEDDED else settings.REDIS_URL}"
    )
    processes = Processes(env, workers=args.workers, concurrency=args.concurrency)
    killer = Killer(processes, times=args.kills, every=args.kill_every)
    try:
        wait_until_ready(args.workers)
        killer.start()
        started = time.perf_counter()
        if args.at_once:
            confirm_at_once(mailing_list)
        for done, token in enumerate([] if args.at_once else confirmation_tokens, 1):
            optin.subscription_confirm(token=token)
            if done % max(1, len(confirmation_tokens) // 10) == 0:
                first_mails = JourneyStepRun.objects.filter(step_index=0).count()
                elapsed = time.perf_counter() - started
                say(f"[confirm] {done:,} confirmed, {first_mails:,} first mails handed on, {elapsed:.0f} s")
        confirming = time.perf_counter() - started
        say(
            f"[confirm] {len(confirmation_tokens):,} confirmations in {confirming:.1f} s: "
            f"{len(confirmation_tokens) / confirming:,.0f} per second"
        )
        expected = 3 * args.subscribers
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            done = Delivery.objects.filter(status=Delivery.Status.SENT).count()
            active = Journey.objects.filter(status=Journey.Status.ACTIVE).count()
            if done >= expected and not active:
                break
            time.sleep(2)
        else:
            say(f"[welcome] not finished within {args.timeout} s: {done:,} of {expected:,} sent, {active:,} active")
        everything = time.perf_counter() - started
        killer.stop.set()
        killer.join()
    finally:
        processes.stop()
    time.sleep(1)
    sink.stop()
    say(
        f"[welcome] all journeys finished and {expected:,} mails sent {everything:.0f} s after the first "
        f"confirmation; workers killed {len(killer.killed_at)} times, at "
        + ", ".join(f"{moment:.0f} s" for moment in killer.killed_at)
    )

    subscriptions = Subscription.objects.filter(mailing_list=mailing_list)
    confirmed = dict(subscriptions.values_list("subscriber_id", "confirmed_at"))
    first_mail = dict(JourneyStepRun.objects.filter(step_index=0).values_list("journey__subscriber_id", "ran_at"))
    latencies = [(first_mail[pk] - at).total_seconds() for pk, at in confirmed.items() if pk in first_mail]
    without = len(confirmed) - len(latencies)
    runs = Counter(JourneyStepRun.objects.values_list("journey_id", "step_index"))

    emails = dict(subscriptions.values_list("subscriber_id", "subscriber__email"))
    got = sink.counts()
    expected_pairs = {(email, mail.subject) for email in emails.values() for mail in mails}
    missing = len(expected_pairs - set(got))
    duplicates = sum(count - 1 for pair, count in got.items() if pair in expected_pairs and count > 1)
    strangers = sum(count for pair, count in got.items() if pair not in expected_pairs)
    rows = [
        ("confirmations per second", f"{len(confirmation_tokens) / confirming:,.0f}"),
        ("first mail latency median", f"{statistics.median(latencies):.1f} s" if latencies else "-"),
        ("first mail latency p99", f"{_percentile(latencies, 0.99):.1f} s" if latencies else "-"),
        ("first mail latency max", f"{max(latencies):.1f} s" if latencies else "-"),
        (f"all first mails < {TARGET_SECONDS} s", str(bool(latencies) and not without and max(latencies) < 60)),
        ("subscribers without a first mail", f"{without:,}"),
        ("step runs (expected 5 per subscriber)", f"{len(runs):,} of {5 * args.subscribers:,}"),
        ("step run rows run twice", str(sum(1 for count in runs.values() if count > 1))),
        ("worker kills", str(len(killer.killed_at))),
        ("mails at the sink (smtp-sink -d files)", f"{sum(got.values()):,} of {expected:,}"),
        ("missing (subscriber, mail)", f"{missing:,}"),
        ("duplicate (subscriber, mail)", f"{duplicates:,}"),
        ("unexpected mails", f"{strangers:,}"),
    ]
    width = max(len(name) for name, _ in rows)
    say("")
    for name, value in rows:
        say(f"  {name.ljust(width)}  {value}")


def confirm_at_once(mailing_list) -> None:
    """``--at-once``: every sign-up confirmed in one transaction (two UPDATEs, no consent records:
    not the confirmation service) and entered with one ``journeys_enter``, to load the engine with
    all journeys at the same moment."""
    from django.db import transaction
    from django.utils import timezone

    from automations import services
    from automations.models import Automation
    from subscribers.models import Subscriber, Subscription

    with transaction.atomic():
        now = timezone.now()
        subscriptions = Subscription.objects.filter(mailing_list=mailing_list)
        subscriptions.update(status=Subscription.Status.ACTIVE, confirmed_at=now, confirmation_nonce="")
        people = Subscriber.objects.filter(subscriptions__mailing_list=mailing_list)
        Subscriber.objects.filter(pk__in=people.values("pk")).update(status=Subscriber.Status.ACTIVE)
        started = services.journeys_enter(automation=Automation.objects.get(), candidates=people)
    say(f"[confirm] {started:,} journeys entered at once")


def process_settings() -> dict:
    """What the worker and beat get besides production's defaults: sending claims of a killed worker
    come back after 30 s rather than 5 minutes, so the run does not wait on the send sweeper
    (journeys hold no claims: a killed runner's round rolls back and the next tick goes on)."""
    return {
        "SITE_URL": "https://news.example.com",
        "KANAL_SEND_BATCH_SIZE": "500",
        "KANAL_SEND_STALE_SECONDS": "30",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="bench/automations.py welcome", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    parser.add_argument("--concurrency", type=int, default=4, help="pool processes per worker")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument(
        "--at-once", action="store_true", help="confirm everyone with one UPDATE instead of the confirmation service"
    )
    parser.add_argument("--kill-every", type=float, default=60.0, help="seconds between kills, about")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the last mail")
    args = parser.parse_args(argv)

    if args.database == "postgres" and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/postgres"
    if args.database == "sqlite":
        os.environ.pop("DATABASE_URL", None)
    benchenv.bench_database("kanal_bench_welcome", bench_dir=BENCH_DIR, extra_env=process_settings())
    benchenv.setup_django()
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()
    say(f"{os.cpu_count()} CPUs")
    welcome(args)
