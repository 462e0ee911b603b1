"""Kill the broker (Redis) with SIGKILL twice in the middle of a rate-limited campaign.

The worker and beat run exactly as in production (``manage.py kanal_process worker|beat``)
against an embedded Redis of this test's own; the rate limit (``KANAL_SEND_RATE_PER_SECOND``)
puts Redis on the sending path of every message. The campaign must finish with every recipient
counted once at the SMTP server, and the same worker process must still be running: it
survived both crashes rather than being restarted.
"""

import sys
import time
from collections import Counter

import pytest
from django.db import connection

from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.testing import wait_until
from newsletter_site.tests.processes import logs_shown_on_failure, start_process, start_redis, stop_process
from newsletter_site.tests.sinks import assert_only_final_dot_window
from subscribers.tests.factories import MailingListFactory, bulk_active_subscribers

RECIPIENTS = 3000
RATE = 400
# Seconds each crashed Redis stays down: the second outage outlasts a publish's retries (about
# 10 s, CELERY_TASK_PUBLISH_RETRY_POLICY), so beat and the workers meet a publish that fails.
OUTAGES = (1, 12)

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(sys.platform != "linux", reason="kills process groups the Linux way"),
]


def sent_count(campaign) -> int:
    return Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count()


def is_sent(campaign) -> bool:
    campaign.refresh_from_db()
    return campaign.status == Campaign.Status.SENT


def test_campaign_sending_survives_broker_crashes(watching_sink, settings, tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    socket_path = var / "redis.sock"
    logs = {name: tmp_path / f"{name}.log" for name in ("redis", "worker", "beat")}
    env = {
        # No REDIS_URL: the embedded Redis on var/redis.sock, as on a zero-setup machine.
        "REDIS_URL": None,
        "KANAL_VAR_DIR": var,
        "KANAL_SEND_RATE_PER_SECOND": RATE,
        "KANAL_SEND_BATCH_SIZE": 200,
        "KANAL_SEND_PARALLEL_BATCHES": 2,
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": settings.EMAIL_PORT,
        "SITE_URL": "https://news.example.com",
    }
    news = MailingListFactory()
    everyone = {f"r{n}@example.org" for n in range(RECIPIENTS)}
    bulk_active_subscribers(emails=sorted(everyone), mailing_list=news)
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    # Its first batches go to the suite's Redis, not to this test's: as if a crash had lost them.
    # Only beat's sweeper (every 30 s) can get this campaign going.
    sending.campaign_start(campaign=campaign)

    with logs_shown_on_failure(*logs.values()):
        redis = start_redis(socket_path, log_path=logs["redis"])
        worker = start_process("worker", env=env, log_path=logs["worker"])
        beat = start_process("beat", env=env, log_path=logs["beat"])
        try:
            for crash, outage in enumerate(OUTAGES, start=1):
                # Mid-campaign: a fifth of the audience more than at the last crash has been sent.
                target = sent_count(campaign) + RECIPIENTS // 5
                wait_until(lambda target=target: sent_count(campaign) >= target, timeout=120, interval=0.1)
                stop_process(redis)
                time.sleep(outage)
                if crash == len(OUTAGES):
                    # The last time it comes back empty, its queued tasks lost with it.
                    for data in var.glob("redis.[ar][od][fb]"):
                        data.unlink()
                redis = start_redis(socket_path, log_path=logs["redis"])
            wait_until(lambda: is_sent(campaign), timeout=180, interval=0.2, raise_on_timeout=False)
            worker_alive, beat_alive = worker.poll() is None, beat.poll() is None
        finally:
            for process in (worker, beat, redis):
                stop_process(process)

        statuses = Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
        assert campaign.status == Campaign.Status.SENT, statuses
        assert sent_count(campaign) == RECIPIENTS
        assert worker_alive, "the worker exited (see its log below)"
        assert beat_alive, "beat exited (see its log below)"
        # The crashes cut no SMTP connection, so there should be nothing in the window; at most
        # one message per worker process and crash is what the design allows.
        missing, duplicates = assert_only_final_dot_window(
            watching_sink, everyone, vendor=connection.vendor, most=len(OUTAGES) * settings.CELERY_WORKER_CONCURRENCY
        )
        print(f"{len(OUTAGES)} broker crashes; final-dot window: {len(missing)} missing, {len(duplicates)} twice")
