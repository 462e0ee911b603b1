"""Kill real Celery workers with SIGKILL in the middle of a campaign and count what the SMTP server got."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.bulk import db_value, insert_rows
from subscribers.models import Subscriber, Subscription
from subscribers.tests.factories import MailingListFactory

REPO = Path(__file__).resolve().parents[2]
RECIPIENTS = 5000

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    # Not yet in the default run: a kill that lands in the microseconds between the final "." of
    # DATA and the commit of "sent" still sends one message twice now and then on PostgreSQL
    # (1 of 3 runs); on SQLite 4 of 4 runs were clean. Issue 3 stays open until it is reliable.
    pytest.mark.skipif(not os.environ.get("KANAL_FAULT_TESTS"), reason="set KANAL_FAULT_TESTS=1 to run"),
]


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
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def sent_count(campaign) -> int:
    return Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()


def test_killing_workers_mid_campaign_loses_and_duplicates_nothing(smtp_sink, settings):
    news = MailingListFactory()
    now = timezone.now()
    insert_rows(
        Subscriber,
        columns=("email", "public_id"),
        rows=[
            (f"r{n}@example.org", db_value(Subscriber, "public_id", __import__("uuid").uuid4()))
            for n in range(RECIPIENTS)
        ],
        constants={
            "first_name": "",
            "last_name": "",
            "language": "de",
            "status": "active",
            "tracking_consent": False,
            "created_at": now,
            "updated_at": now,
        },
    )
    insert_rows(
        Subscription,
        columns=("subscriber",),
        rows=[(pk,) for pk in Subscriber.objects.values_list("pk", flat=True)],
        constants={
            "mailing_list": news.pk,
            "status": "active",
            "confirmation_nonce": "",
            "created_at": now,
            "confirmed_at": now,
            "unsubscribed_at": None,
        },
    )
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
        while sent_count(campaign) < before + 50 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.05, 0.6))
        kill_hard(worker)
        kills += 1
        # The worker is dead, so every claim it held is stale now.
        sending.deliveries_sweep(stale_after=timedelta(0))
        campaign.refresh_from_db()
        if campaign.status == Campaign.Status.SENT:
            break

    worker = start_worker(settings.EMAIL_PORT)
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            campaign.refresh_from_db()
            if campaign.status == Campaign.Status.SENT:
                break
            time.sleep(0.2)
    finally:
        kill_hard(worker)

    assert kills >= 3, "the campaign finished before the workers could be killed often enough"
    statuses = Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert campaign.status == Campaign.Status.SENT, statuses
    received = Counter(smtp_sink.recipients())
    duplicates = {address: count for address, count in received.items() if count > 1}
    missing = RECIPIENTS - len(received)
    assert (missing, duplicates) == (0, {})
    assert sent_count(campaign) == RECIPIENTS
