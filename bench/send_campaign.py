"""Send one campaign to 100,000 recipients and print what it costs.

    .venv/bin/python bench/send_campaign.py [--recipients 100000] [--workers 1] [--concurrency 2]
        [--database sqlite|postgres] [--database-name kanal_bench]
        [--sink smtp-sink|aiosmtpd] [--skip-anymail] [--skip-baseline] [--baseline-recipients N]

Figures, each printed as it is measured:

1. CPU cost per message of rendering plus building the MIME message (median of 5 runs of
   5,000 messages, process time), next to Django's ``EmailMultiAlternatives`` on the same
   campaign, and the ratio of the two.
2. Audience snapshot: 100,000 delivery rows (median of 3 runs).
3. Where the time of one message goes, in this process on 5,000 messages sent to the sink
   through ``delivery_batch_send``: render (links and merge slots), MIME, database (claims,
   reads, "sent" marks) and the rest (SMTP socket and bookkeeping), wall time per message.
4. End to end through a local SMTP sink: from ``campaign_start`` (the admin's "send" button)
   to the last row marked sent, with real Celery workers (each a Celery node of its own,
   ``KANAL_WORKER_NAME``, as on separate hosts) on the real broker; messages/s, the sink's own
   message count, and the RSS of every worker process sampled each second over the whole run
   (first, median, last, peak). Then Postfix's ``smtp-source`` sends messages of the same size
   to the same sink over as many parallel sessions: the machine's limit, and Kanal as a share
   of it. The load average is printed before and after (other work on the machine counts).
5. The same through Anymail's test backend: one API call per message, and batch sending
   (``merge_data``, 500 recipients per call).
6. django-newsletter (PyPI) sending to the same sink on the same machine
   (bench/django_newsletter_baseline.py), and Kanal's speed as a multiple of it.

The database is SQLite in var/bench/send/ unless DATABASE_URL is set or ``--database postgres``
is given (PostgreSQL: database ``--database-name``, default kanal_bench, is created afresh next
to the one in DATABASE_URL, else on postgres://postgres@127.0.0.1:5432/postgres). Redis is the embedded one unless
REDIS_URL is set. Targets (2 cores): >= 1,000 messages/s end to end (2,000 the aim), render +
MIME < 300 µs, snapshot < 5 s, worker RSS < 150 MB and flat, >= 500 recipients per task, >= 10x
django-newsletter, >= 0.5 of smtp-source.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchenv import bench_database, free_port, say

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "var" / "bench" / "send"
ARTICLE_TEXT = (
    "Kanal misst, was Leserinnen und Leser mit einem Newsletter tun: Öffnungen, Klicks und Antworten. "
    "Dieser Absatz steht für einen typischen Artikeltext mit **Hervorhebungen**, einer Liste und "
    "[einem Link](https://example.org/mehr?utm_source=newsletter).\n\n- Erstens\n- Zweitens\n- Drittens\n\n"
) * 3


# --- environment -------------------------------------------------------------------------


MAINTENANCE_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def configure_environment(*, database: str | None = None, name: str = "kanal_bench") -> dict:
    """The workers' environment: the bench's own database (``benchenv.bench_database``), batch size."""
    if database == "postgres" and not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        os.environ["DATABASE_URL"] = MAINTENANCE_URL
    elif database == "sqlite":
        os.environ.pop("DATABASE_URL", None)
    env = {"SITE_URL": "https://news.example.com", "KANAL_SEND_BATCH_SIZE": "500"}
    bench_database(name, bench_dir=BENCH_DIR, extra_env=env)
    return env | {name: os.environ[name] for name in ("KANAL_VAR_DIR", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")}


def setup_django():
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if settings.REDIS_EMBEDDED:
        from newsletter_site import redis_server

        redis_server.ensure_running_until_exit(settings.REDIS_SOCKET)
    call_command("migrate", verbosity=0)
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def create_audience(recipients: int):
    from subscribers.models import MailingList
    from subscribers.tests.factories import bulk_active_subscribers

    mailing_list = MailingList.objects.create(name="Bench", slug="bench")
    names = ["Anna", "Ben", "Clara", "Jürgen", "Zoë", ""]
    bulk_active_subscribers(
        emails=[f"r{n}@example.org" for n in range(recipients)],
        first_names=[names[n % len(names)] for n in range(recipients)],
        tracking_consent=True,
        mailing_list=mailing_list,
    )
    return mailing_list


def create_campaign(mailing_list, name: str):
    from campaigns.models import Article, Campaign

    campaign = Campaign.objects.create(
        name=name,
        subject='Neues für {{ subscriber.first_name|default:"Leserin" }}',
        preheader="Die Themen dieser Woche",
        from_name="Kanal Redaktion",
        from_email="news@example.com",
        language="de",
    )
    campaign.mailing_lists.set([mailing_list])
    for position in range(3):
        Article.objects.create(
            campaign=campaign,
            position=position,
            headline=f"Artikel {position + 1} für {{{{ subscriber.first_name|default:'Sie' }}}}",
            body=ARTICLE_TEXT,
            link_url=f"https://example.org/artikel-{position + 1}",
            cta_text="Weiterlesen",
        )
    return campaign


# --- 1. render + MIME ----------------------------------------------------------------------


def measure_message_cost(campaign) -> int:
    """Prints the figures; returns the size of one message in bytes."""
    from django.core.mail import EmailMultiAlternatives

    from campaigns.mime import MailHeaders, message_id
    from campaigns.rendering import RecipientContext
    from campaigns.services.sending import compiled_campaign
    from subscribers.links import MailLinks
    from subscribers.models import Subscriber

    compiled, skeleton = compiled_campaign(campaign)
    links = MailLinks()
    subscribers = list(Subscriber.objects.order_by("pk")[:5000])

    def kanal_message(subscriber):
        unsubscribe, preferences, list_unsubscribe = links.for_subscriber(subscriber)
        context = RecipientContext(
            email=subscriber.email,
            first_name=subscriber.first_name,
            unsubscribe_url=unsubscribe,
            preferences_url=preferences,
        )
        headers = MailHeaders(
            to=subscriber.email,
            message_id=message_id(campaign_id=campaign.pk, delivery_id=subscriber.pk, domain="example.com"),
            list_unsubscribe=list_unsubscribe,
            delivery_id=subscriber.pk,
        )
        return skeleton.build(context, headers)

    def django_message(subscriber):
        unsubscribe, preferences, list_unsubscribe = links.for_subscriber(subscriber)
        rendered = compiled.render(
            RecipientContext(
                email=subscriber.email,
                first_name=subscriber.first_name,
                unsubscribe_url=unsubscribe,
                preferences_url=preferences,
            )
        )
        message = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text,
            from_email=campaign.from_header,
            to=[subscriber.email],
            headers={"List-Unsubscribe": list_unsubscribe, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )
        message.attach_alternative(rendered.html, "text/html")
        return message.message().as_bytes()

    def per_message_us(build, people) -> float:
        started = time.process_time()
        for subscriber in people:
            build(subscriber)
        return (time.process_time() - started) / len(people) * 1e6

    size = len(kanal_message(subscribers[0]))
    kanal = statistics.median(per_message_us(kanal_message, subscribers) for _ in range(5))
    django = statistics.median(per_message_us(django_message, subscribers[:1000]) for _ in range(5))
    say(f"[render+MIME] message size {size / 1024:.1f} KB")
    say(f"[render+MIME] Kanal (skeleton): median {kanal:.1f} µs per message (target < 300 µs)")
    say(f"[render+MIME] EmailMultiAlternatives: median {django:.1f} µs per message; Kanal is {django / kanal:.1f}x")
    return size


# --- 2. snapshot --------------------------------------------------------------------------


def measure_snapshot(campaign, recipients: int) -> None:
    from django.db import connection

    from campaigns.models import Delivery
    from campaigns.services.sending import deliveries_snapshot

    def delete_deliveries():
        # Nothing refers to these fresh rows yet: one DELETE, where the ORM's would first collect
        # every row's dependants in Python (minutes at a million).
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {Delivery._meta.db_table} WHERE campaign_id = %s", [campaign.pk])

    runs = []
    for _ in range(3):
        delete_deliveries()
        started = time.perf_counter()
        created = deliveries_snapshot(campaign=campaign)
        runs.append(time.perf_counter() - started)
        assert created == recipients, created
    delete_deliveries()
    say(
        f"[snapshot] {recipients:,} deliveries: median {statistics.median(runs):.2f} s "
        f"(runs {_list(runs)}; target < 5 s)"
    )


def _list(values) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


# --- 3. where one message's time goes --------------------------------------------------------


class StageClock:
    """Wall time spent inside the wrapped functions, by stage; nested stages are subtracted by the caller."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._undo = []

    def wrap(self, owner, attribute: str, stage: str) -> None:
        original = getattr(owner, attribute)
        clock = self

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                clock.seconds[stage] = clock.seconds.get(stage, 0.0) + time.perf_counter() - started

        setattr(owner, attribute, timed)
        self._undo.append((owner, attribute, original))

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._undo):
            setattr(owner, attribute, original)
        self._undo.clear()


def measure_stages(mailing_list, sink: "SmtpSink", *, messages: int = 5000) -> None:
    """``delivery_batch_send`` in this process, batch after batch, into the sink, its stages timed by
    wrapping the functions the worker calls (production code carries no timers)."""
    from django.conf import settings

    from campaigns.mime import MessageSkeleton
    from campaigns.models import Campaign
    from campaigns.rendering.slots import CompiledCampaign
    from campaigns.services import sending, transports
    from newsletter_site import smtp_backend
    from subscribers.models import Subscriber

    campaign = create_campaign(mailing_list, "stages")
    # The ids as a list: with "pk IN (SELECT … LIMIT n)" this snapshot ran for minutes on PostgreSQL
    # at 200,000 subscribers, right after the snapshot runs had deleted 600,000 deliveries.
    sample = list(Subscriber.objects.order_by("pk").values_list("pk", flat=True)[:messages])
    sending.deliveries_snapshot(campaign=campaign, recipients=Subscriber.objects.filter(pk__in=sample))
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    settings.EMAIL_BACKEND = "newsletter_site.smtp_backend.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    sending.compiled_campaign(Campaign.objects.get(pk=campaign.pk))  # compiled once per worker, not per message

    clock = StageClock()
    clock.wrap(sending, "_claim", "database")
    clock.wrap(transports, "claimed_deliveries", "database")
    clock.wrap(transports.DeliveryLedger, "keep_going", "database")
    clock.wrap(transports.DeliveryLedger, "sent_at_final_dot", "marks")  # called inside _Stream._send
    clock.wrap(smtp_backend._Stream, "_send", "smtp")  # data and envelope writes, the server's replies
    clock.wrap(transports.DeliveryLedger, "end_manual_commit", "database")
    clock.wrap(transports.BatchContext, "recipient", "links")  # links, tracking URLs, the context
    clock.wrap(CompiledCampaign, "slot_values", "slots")  # merge tags into the slots (inside build)
    clock.wrap(MessageSkeleton, "build", "build")
    sent = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        while True:
            outcome = sending.delivery_batch_send(campaign_id=campaign.pk)
            sent += outcome.sent
            if not outcome.more_to_send:
                break
    finally:
        clock.restore()
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    assert sent == messages, sent
    stages = clock.seconds
    # slot_values runs inside build: MIME is what build does besides filling the slots.
    parts = {
        "render (links, context, merge slots)": stages["links"] + stages["slots"],
        "MIME (headers, encoded skeleton)": stages["build"] - stages["slots"],
        "database (claim, read, sent marks, heartbeats)": stages["database"] + stages["marks"],
        "SMTP socket (writes, waiting for the server's replies)": stages["smtp"] - stages["marks"],
    }
    parts["the rest (task, batch set-up, Python between the stages)"] = total - sum(parts.values())
    say(
        f"[stages] {sent:,} messages in one process: {total / sent * 1e6:.0f} µs wall per message "
        f"({sent / total:,.0f}/s), {cpu / sent * 1e6:.0f} µs CPU"
    )
    for name, seconds in parts.items():
        say(f"[stages]   {name}: {seconds / sent * 1e6:.0f} µs per message ({seconds / total:.0%})")
    marks = stages["marks"] / sent * 1e6
    say(f"[stages]     of the database: the sent marks (a commit each) {marks:.0f} µs per message")


# --- sinks and workers ----------------------------------------------------------------------


class SmtpSink:
    """Postfix's smtp-sink (C) if installed, else aiosmtpd in its own process; counts messages."""

    def __init__(self, kind: str):
        self.port = free_port()
        self.kind = kind
        self.output = BENCH_DIR / f"sink-{self.port}.out"
        if kind == "smtp-sink":
            command = ["smtp-sink", "-c", "-u", "nobody", f"127.0.0.1:{self.port}", "1000"]
        else:
            command = [sys.executable, str(Path(__file__).with_name("aiosmtpd_counter.py")), str(self.port)]
        self.process = subprocess.Popen(command, stdout=self.output.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"the {kind} SMTP sink did not start")

    def messages(self) -> int:
        text = self.output.read_bytes().decode(errors="replace")
        counts = re.findall(r"mesg=(\d+)", text)
        return int(counts[-1]) if counts else 0

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


def start_workers(env: dict, *, count: int, concurrency: int, extra: dict) -> list[subprocess.Popen]:
    """Production's worker (``manage.py kanal_process worker``, newsletter_site/processes.py), ``count``
    times, each a Celery node of its own as on separate hosts (``KANAL_WORKER_NAME``)."""
    worker_env = os.environ | env | extra | {"KANAL_WORKER_CONCURRENCY": str(concurrency), "LOG_LEVEL": "WARNING"}
    from django.conf import settings

    # Enough batch tasks per campaign to keep every worker process busy.
    worker_env["KANAL_SEND_PARALLEL_BATCHES"] = str(max(settings.KANAL_SEND_PARALLEL_BATCHES, count * concurrency))
    worker_env["PYTHONPATH"] = os.pathsep.join([str(REPO / "bench"), str(REPO)])
    return [
        subprocess.Popen(
            [sys.executable, "manage.py", "kanal_process", "worker"],
            cwd=REPO,
            env=worker_env | {"KANAL_WORKER_NAME": f"bench{index + 1}@%h"},
            start_new_session=True,
        )
        for index in range(count)
    ]


def stop_workers(workers) -> None:
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


class RssSampler(threading.Thread):
    """Resident memory of every process in the workers' process groups, sampled every ``interval`` s."""

    def __init__(self, workers, interval: float = 1.0):
        super().__init__(daemon=True)
        self.groups = {worker.pid for worker in workers}
        self.interval = interval
        self.samples: dict[int, list[int]] = {}  # pid -> RSS in KB, in order
        self.cpu_ticks: dict[int, list[int]] = {}  # pid -> user + system clock ticks: [first, last] sample
        self.running = True

    @property
    def peak_kb(self) -> int:
        return max((max(values) for values in self.samples.values()), default=0)

    def run(self):
        page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
        while self.running:
            for status in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = status.read_text().rsplit(")", 1)[1].split()
                    if int(fields[2]) in self.groups:  # pgrp
                        pid = int(status.parent.name)
                        self.samples.setdefault(pid, []).append(int(fields[21]) * page_kb)
                        ticks = int(fields[11]) + int(fields[12])  # utime + stime
                        self.cpu_ticks.setdefault(pid, [ticks, ticks])[1] = ticks
                except (OSError, IndexError, ValueError):
                    continue
            time.sleep(self.interval)

    @property
    def cpu_seconds(self) -> float:
        """CPU the workers' processes used between their first and last samples (from ready workers on)."""
        return sum(last - first for first, last in self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    def report(self, label: str) -> None:
        for pid, values in sorted(self.samples.items()):
            role = "worker" if pid in self.groups else "pool process"
            say(
                f"[{label}] RSS {role} {pid}: first {values[0] / 1024:.0f}, median "
                f"{statistics.median(values) / 1024:.0f}, last {values[-1] / 1024:.0f}, peak "
                f"{max(values) / 1024:.0f} MB ({len(values)} samples)"
            )
        say(f"[{label}] peak worker RSS {self.peak_kb / 1024:.0f} MB per process (target < 150 MB, flat)")


def load_average() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def wait_until_ready(workers) -> None:
    from newsletter_site.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replies = app.control.ping(timeout=0.5) or []
        if len(replies) >= len(workers):
            return
    raise SystemExit("the Celery workers did not come up")


def send_end_to_end(
    env, mailing_list, *, label: str, recipients: int, args, extra: dict, sink=None, prepare=None, cpu=None
) -> float:
    """``prepare(campaign)``, if given, runs before the send starts (bench/offers.py adds an offer);
    ``cpu``, a list, gets the workers' CPU seconds per message appended."""
    from django.db.models import Max

    from campaigns.models import Campaign, Delivery
    from campaigns.services import sending

    campaign = create_campaign(mailing_list, label)
    if prepare is not None:
        prepare(campaign)
    workers = start_workers(env, count=args.workers, concurrency=args.concurrency, extra=extra)
    say(f"[{label}] start: {load_average()}")
    sink_before = sink.messages() if sink is not None else 0
    sampler = RssSampler(workers)
    try:
        wait_until_ready(workers)
        sampler.start()  # from the ready workers on: the first sample is a worker before its first task
        started_at = time.time()
        sending.campaign_start(campaign=campaign, warnings_confirmed=True)
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True).get()
            if status == Campaign.Status.SENT:
                break
            time.sleep(0.25)
        else:
            raise SystemExit(f"[{label}] did not finish within an hour")
    finally:
        sampler.running = False
        stop_workers(workers)
    last_sent = Delivery.objects.filter(campaign=campaign).aggregate(last=Max("sent_at"))["last"].timestamp()
    seconds = last_sent - started_at
    sent = Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()
    rate = sent / seconds
    line = f"[{label}] {sent:,} of {recipients:,} sent in {seconds:.1f} s: {rate:,.0f} messages/s end to end"
    if sink is not None:
        time.sleep(1)
        line += f"; the sink counted {sink.messages() - sink_before:,} messages"
    say(line)
    say(f"[{label}] end: {load_average()}")
    sampler.report(label)
    # CPU per message hardly moves with other work on the machine, where messages/s does.
    say(
        f"[{label}] worker CPU (user + system, all processes, from ready on): {sampler.cpu_seconds:.1f} s, "
        f"{sampler.cpu_seconds / max(sent, 1) * 1e6:.0f} µs per message"
    )
    if cpu is not None:
        cpu.append(sampler.cpu_seconds / max(sent, 1))
    return rate


def smtp_source_rate(sink: SmtpSink, *, messages: int, sessions: int, size: int) -> float:
    """Postfix's smtp-source (C) into the same sink: ``messages`` of ``size`` bytes over ``sessions``
    parallel connections, each kept open as Kanal keeps its own (``-d``); messages/s."""
    before = sink.messages()
    say(f"[smtp-source] start: {load_average()}")
    started = time.perf_counter()
    subprocess.run(
        [
            *("smtp-source", "-d", "-s", str(sessions), "-m", str(messages), "-l", str(size)),
            *("-f", "news@example.com", "-t", "r0@example.org", f"127.0.0.1:{sink.port}"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    time.sleep(1)
    rate = messages / seconds
    say(
        f"[smtp-source] {messages:,} messages of {size:,} bytes over {sessions} sessions in {seconds:.1f} s: "
        f"{rate:,.0f} messages/s; the sink counted {sink.messages() - before:,}"
    )
    say(f"[smtp-source] end: {load_average()}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default=None, help="default: by DATABASE_URL")
    parser.add_argument(
        "--database-name",
        default=os.environ.get("KANAL_BENCH_DATABASE", "kanal_bench"),
        help="PostgreSQL database the bench creates afresh (default: $KANAL_BENCH_DATABASE or kanal_bench)",
    )
    parser.add_argument("--stage-messages", type=int, default=5000, help="messages timed stage by stage")
    parser.add_argument(
        "--source-messages",
        type=int,
        default=None,
        help="smtp-source's messages (default: --recipients, 300,000 at most)",
    )
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (each with --concurrency)")
    # Each process waits on SMTP and database round trips much of the time: two per core keep both busy.
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sink", choices=["smtp-sink", "aiosmtpd"], default=None)
    parser.add_argument("--skip-anymail", action="store_true")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--baseline-recipients", type=int, default=None, help="default: same as --recipients")
    args = parser.parse_args()
    sink_kind = args.sink or ("smtp-sink" if shutil.which("smtp-sink") else "aiosmtpd")

    env = configure_environment(database=args.database, name=args.database_name)
    setup_django()
    from django.conf import settings

    say(
        f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, sink: {sink_kind}, "
        f"{args.workers} worker(s) x {args.concurrency} processes, batch {settings.KANAL_SEND_BATCH_SIZE} per task, "
        f"{os.cpu_count()} CPUs, {load_average()}"
    )
    started = time.perf_counter()
    mailing_list = create_audience(args.recipients)
    say(f"[setup] {args.recipients:,} subscribers in {time.perf_counter() - started:.1f} s (not part of any figure)")

    size = measure_message_cost(create_campaign(mailing_list, "cost"))
    measure_snapshot(create_campaign(mailing_list, "snapshot"), args.recipients)

    sink = SmtpSink(sink_kind)
    try:
        measure_stages(mailing_list, sink, messages=min(args.stage_messages, args.recipients))
        smtp = {
            "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(sink.port),
        }
        kanal_rate = send_end_to_end(
            env, mailing_list, label="SMTP", recipients=args.recipients, args=args, extra=smtp, sink=sink
        )
        if shutil.which("smtp-source"):
            limit = smtp_source_rate(
                sink,
                messages=args.source_messages or min(args.recipients, 300_000),
                sessions=args.workers * args.concurrency,
                size=size,
            )
            say(f"[ratio] Kanal end to end is {kanal_rate / limit:.2f} of smtp-source (aim >= 0.5)")
        if not args.skip_anymail:
            anymail = {"EMAIL_BACKEND": "bench_backends.DiscardingAnymailTestBackend"}
            send_end_to_end(
                env,
                mailing_list,
                label="Anymail test backend, one call per message",
                recipients=args.recipients,
                args=args,
                extra=anymail,
            )
            send_end_to_end(
                env,
                mailing_list,
                label="Anymail test backend, merge_data batches of 500",
                recipients=args.recipients,
                args=args,
                extra=anymail | {"KANAL_ESP_MERGE_FIELD_FORMAT": "{{{{{}}}}}", "KANAL_ESP_BATCH_SIZE": "500"},
            )
        if not args.skip_baseline:
            compare_with_django_newsletter(sink, args.baseline_recipients or args.recipients, kanal_rate)
    finally:
        sink.stop()


def compare_with_django_newsletter(sink: SmtpSink, recipients: int, kanal_rate: float) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from django_newsletter_baseline import run_baseline

    before = sink.messages()
    result = run_baseline(
        recipients=recipients,
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        workdir=REPO / "var" / "bench" / "django-newsletter",
    )
    time.sleep(1)
    say(
        f"[django-newsletter {result['version']}] {result['messages_sent']:,} of {recipients:,} sent in "
        f"{result['seconds']:.1f} s: {result['messages_per_second']:,.0f} messages/s; the sink counted "
        f"{sink.messages() - before:,}; peak RSS {result['peak_rss_mb']:.0f} MB"
    )
    say(
        f"[ratio] Kanal end to end is {kanal_rate / result['messages_per_second']:.1f}x django-newsletter "
        "(target >= 10x)"
    )


if __name__ == "__main__":
    main()
