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

import functools
import random
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.testing import wait_until
from newsletter_site.tests.processes import logs_shown_on_failure, start_process, stop_process
from newsletter_site.tests.sinks import assert_only_final_dot_window
from subscribers.tests.factories import MailingListFactory, bulk_active_subscribers

RECIPIENTS = 5000

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(sys.platform != "linux", reason="kills process groups the Linux way"),
]


def start_worker(smtp_port: int, log_path: Path) -> subprocess.Popen:
    """The production worker (``manage.py kanal_process worker``), sending to the test's SMTP sink."""
    env = {
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": smtp_port,
        "KANAL_SEND_BATCH_SIZE": 200,
        "KANAL_SEND_PARALLEL_BATCHES": 2,
        "SITE_URL": "https://news.example.com",
    }
    return start_process("worker", env=env, log_path=log_path)


def sent_count(campaign) -> int:
    return Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()


def under_way(campaign, *, worker: subprocess.Popen, until: int) -> bool:
    """``until`` messages are sent, or the worker died trying."""
    return sent_count(campaign) >= until or worker.poll() is not None


def is_sent(campaign) -> bool:
    campaign.refresh_from_db()
    return campaign.status == Campaign.Status.SENT


def send_while_killing(campaign, *, smtp_port: int, log: Path, kills: int, seed: int) -> int:
    """Start a production worker, let it get going, kill it somewhere in the middle of a batch, up to
    ``kills`` times; then let a last worker finish the campaign. Returns how many kills there were.

    Each kill waits for a random share of what is left rather than for a time, so a faster machine
    or database still gets every kill in before the campaign is done."""
    rng = random.Random(seed)
    total = Delivery.objects.filter(campaign=campaign).count()
    killed = 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and killed < kills:
        worker = start_worker(smtp_port, log)
        sent_before = sent_count(campaign)
        share = (total - sent_before) // (kills - killed + 1)
        until = sent_before + rng.randint(min(50, share), max(50, share))
        got_going = functools.partial(under_way, campaign, worker=worker, until=until)
        wait_until(got_going, timeout=deadline - time.monotonic(), interval=0.01, raise_on_timeout=False)
        time.sleep(rng.uniform(0, 0.05))
        stop_process(worker)
        killed += 1
        # The worker is dead, so every claim it held is stale now.
        sending.deliveries_sweep(stale_after=timedelta(0))
        if is_sent(campaign):
            break
    worker = start_worker(smtp_port, log)
    try:
        wait_until(lambda: is_sent(campaign), timeout=180, interval=0.2, raise_on_timeout=False)
    finally:
        stop_process(worker)
    return killed


def test_killing_workers_mid_campaign_loses_and_duplicates_nothing(watching_sink, settings, tmp_path):
    news = MailingListFactory()
    bulk_active_subscribers(emails=[f"r{n}@example.org" for n in range(RECIPIENTS)], mailing_list=news)
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    sending.campaign_start(campaign=campaign)

    log = tmp_path / "worker.log"
    with logs_shown_on_failure(log):
        kills = send_while_killing(campaign, smtp_port=settings.EMAIL_PORT, log=log, kills=6, seed=8058)
        assert kills >= 3, "the campaign finished before the workers could be killed often enough"
        statuses = Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
        assert campaign.status == Campaign.Status.SENT, statuses
        assert sent_count(campaign) == RECIPIENTS

        everyone = {f"r{n}@example.org" for n in range(RECIPIENTS)}
        # At most one message per killed worker process (two processes per worker).
        missing, duplicates = assert_only_final_dot_window(
            watching_sink, everyone, vendor=connection.vendor, most=kills * 2
        )
        print(f"{kills} kills; messages in the final-dot window: {len(missing)} missing, {len(duplicates)} twice")
