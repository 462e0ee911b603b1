"""Kill real Celery workers with SIGKILL in the middle of a campaign and count what the SMTP server got.

What this proves: every recipient gets the campaign exactly once, except where a kill lands in
the one window no sender can close — between the database saying "sent" and the SMTP server
receiving the final "." of that message (microseconds; see campaigns.services.transports).
The sink watches each connection, so the test can tell such a message from any other anomaly:
on SQLite ("sent" is committed just before the ".") it can only be missing, and it must be the
message that was in flight on a connection cut by the kill; on PostgreSQL (committed just after
the ".") it can only arrive twice, and its first copy must be the last message of a cut
connection. Anything else — a duplicate from a re-sent batch, a message lost elsewhere — fails.
"""

import contextlib
import functools
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.testing import wait_until
from newsletter_site.tests.sinks import announce_pipelining
from subscribers.tests.factories import MailingListFactory, bulk_active_subscribers

REPO = Path(__file__).resolve().parents[2]
RECIPIENTS = 5000

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(sys.platform != "linux", reason="kills process groups the Linux way"),
]


class WatchingSink:
    """An SMTP server that records, per connection, what was delivered and how the connection ended."""

    def __init__(self):
        self.lock = threading.Lock()
        self.delivered: Counter = Counter()
        self.in_flight: dict = {}  # connection -> recipient accepted but whose message never completed
        self.last_delivered: dict = {}  # connection -> recipient of its last complete message
        self.quit: set = set()
        self.connections = itertools.count()

    def _connection(self, session) -> int:
        # Not session.peer: a later connection may reuse the port of one that was cut.
        if not hasattr(session, "kanal_connection"):
            session.kanal_connection = next(self.connections)
        return session.kanal_connection

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        with self.lock:
            self.in_flight[self._connection(session)] = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            for address in envelope.rcpt_tos:
                self.delivered[address] += 1
                self.last_delivered[self._connection(session)] = address
            self.in_flight.pop(self._connection(session), None)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        with self.lock:
            self.quit.add(self._connection(session))
        return "221 Bye"

    def cut_connections(self) -> tuple[set, set]:
        """(recipients in flight on connections that ended without QUIT, their last delivered recipients)."""
        with self.lock:
            cut = set(self.in_flight) | set(self.last_delivered)
            cut -= self.quit
            return (
                {self.in_flight[peer] for peer in cut if peer in self.in_flight},
                {self.last_delivered[peer] for peer in cut if peer in self.last_delivered},
            )


@pytest.fixture
def watching_sink(settings, monkeypatch):
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = WatchingSink()
    announce_pipelining(WatchingSink, monkeypatch)  # the path Kanal takes with Postfix and ESP relays
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_PORT = port
    yield handler
    controller.stop()


def database_url() -> str:
    database = connection.settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    user = database.get("USER") or "postgres"
    host = database.get("HOST") or "127.0.0.1"
    return f"postgres://{user}@{host}:{database.get('PORT') or 5432}/{database['NAME']}"


def start_worker(smtp_port: int) -> subprocess.Popen:
    env = os.environ | {
        "DATABASE_URL": database_url(),
        "KANAL_VAR_DIR": str(settings.VAR_DIR),
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        "KANAL_SEND_BATCH_SIZE": "200",
        "KANAL_SEND_PARALLEL_BATCHES": "2",
        "SITE_URL": "https://news.example.com",
    }
    if not settings.REDIS_EMBEDDED:
        env["REDIS_URL"] = settings.REDIS_URL
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "newsletter_site",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "2",
            "--loglevel",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_hard(worker: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def sent_count(campaign) -> int:
    return Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()


def under_way(campaign, *, worker: subprocess.Popen, sent_before: int) -> bool:
    """Fifty more messages went out since ``sent_before``, or the worker died trying."""
    return sent_count(campaign) >= sent_before + 50 or worker.poll() is not None


def is_sent(campaign) -> bool:
    campaign.refresh_from_db()
    return campaign.status == Campaign.Status.SENT


def test_killing_workers_mid_campaign_loses_and_duplicates_nothing(watching_sink, settings):
    news = MailingListFactory()
    bulk_active_subscribers(emails=[f"r{n}@example.org" for n in range(RECIPIENTS)], mailing_list=news)
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    sending.campaign_start(campaign=campaign)

    rng = random.Random(8058)
    kills = 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and kills < 6:
        worker = start_worker(settings.EMAIL_PORT)
        before = sent_count(campaign)
        # Let it get going, then kill it somewhere in the middle of a batch.
        got_going = functools.partial(under_way, campaign, worker=worker, sent_before=before)
        wait_until(got_going, timeout=deadline - time.monotonic(), raise_on_timeout=False)
        time.sleep(rng.uniform(0.05, 0.6))
        kill_hard(worker)
        kills += 1
        # The worker is dead, so every claim it held is stale now.
        sending.deliveries_sweep(stale_after=timedelta(0))
        if is_sent(campaign):
            break

    worker = start_worker(settings.EMAIL_PORT)
    try:
        wait_until(lambda: is_sent(campaign), timeout=180, interval=0.2, raise_on_timeout=False)
    finally:
        kill_hard(worker)

    assert kills >= 3, "the campaign finished before the workers could be killed often enough"
    statuses = Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert campaign.status == Campaign.Status.SENT, statuses
    assert sent_count(campaign) == RECIPIENTS

    everyone = {f"r{n}@example.org" for n in range(RECIPIENTS)}
    received = watching_sink.delivered
    missing = everyone - set(received)
    duplicates = {address for address, count in received.items() if count > 1}
    in_flight_when_cut, last_before_cut = watching_sink.cut_connections()
    # The final-dot window, and nothing else (see the module docstring).
    if connection.vendor == "postgresql":
        assert missing == set()
        assert duplicates <= last_before_cut, duplicates - last_before_cut
    else:
        assert duplicates == set()
        assert missing <= in_flight_when_cut, missing - in_flight_when_cut
    assert all(received[address] == 2 for address in duplicates)
    assert len(missing) + len(duplicates) <= kills * 2, "at most one message per killed process"
    print(f"{kills} kills; messages in the final-dot window: {len(missing)} missing, {len(duplicates)} twice")
