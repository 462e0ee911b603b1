"""Kill the broker (Redis, or stop RabbitMQ) twice in the middle of a rate-limited campaign.

The worker and beat run exactly as in production (``manage.py kanal_process worker|beat``),
against an embedded Redis of this test's own or against the suite's RabbitMQ; the rate limit
(``KANAL_SEND_RATE_PER_SECOND``) puts Redis on the sending path of every message. The campaign
must finish with every recipient counted once at the SMTP server, and the same worker process
must still be running: it survived both crashes rather than being restarted.
"""

import shutil
import subprocess
import sys
import time
from collections import Counter

import pytest
from django.conf import settings
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


def send_through_crashes(campaign, *, sink, settings, env: dict, logs: dict, crash) -> None:
    """Run worker and beat as production does while ``crash(number, outage)`` takes the broker down
    for each of OUTAGES, every time a fifth more of the audience is sent; then check the sink."""
    with logs_shown_on_failure(*logs.values()):
        worker = start_process("worker", env=env, log_path=logs["worker"])
        beat = start_process("beat", env=env, log_path=logs["beat"])
        try:
            for number, outage in enumerate(OUTAGES, start=1):
                target = sent_count(campaign) + RECIPIENTS // 5
                wait_until(lambda target=target: sent_count(campaign) >= target, timeout=120, interval=0.1)
                crash(number, outage)
            wait_until(lambda: is_sent(campaign), timeout=180, interval=0.2, raise_on_timeout=False)
            worker_alive, beat_alive = worker.poll() is None, beat.poll() is None
        finally:
            for process in (worker, beat):
                stop_process(process)

        statuses = Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
        assert campaign.status == Campaign.Status.SENT, statuses
        assert sent_count(campaign) == RECIPIENTS
        assert worker_alive, "the worker exited (see its log below)"
        assert beat_alive, "beat exited (see its log below)"
        # The crashes cut no SMTP connection, so there should be nothing in the window; at most
        # one message per worker process and crash is what the design allows.
        everyone = {f"r{n}@example.org" for n in range(RECIPIENTS)}
        missing, duplicates = assert_only_final_dot_window(
            sink, everyone, vendor=connection.vendor, most=len(OUTAGES) * settings.CELERY_WORKER_CONCURRENCY
        )
        print(f"{len(OUTAGES)} broker crashes; final-dot window: {len(missing)} missing, {len(duplicates)} twice")


def rate_limited_campaign():
    news = MailingListFactory()
    bulk_active_subscribers(emails=[f"r{n}@example.org" for n in range(RECIPIENTS)], mailing_list=news)
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    return campaign


def smtp_env(settings) -> dict:
    return {
        "KANAL_SEND_RATE_PER_SECOND": RATE,
        "KANAL_SEND_BATCH_SIZE": 200,
        "KANAL_SEND_PARALLEL_BATCHES": 2,
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": settings.EMAIL_PORT,
        "SITE_URL": "https://news.example.com",
    }


@pytest.mark.skipif(settings.BROKER_IS_AMQP, reason="the broker is RabbitMQ: see the test below")
def test_campaign_sending_survives_broker_crashes(watching_sink, settings, tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    socket_path = var / "redis.sock"
    logs = {name: tmp_path / f"{name}.log" for name in ("redis", "worker", "beat")}
    # No REDIS_URL: the embedded Redis on var/redis.sock, as on a zero-setup machine.
    env = {"REDIS_URL": None, "KANAL_VAR_DIR": var, **smtp_env(settings)}
    campaign = rate_limited_campaign()
    # Its first batches go to the suite's Redis, not to this test's: as if a crash had lost them.
    # Only beat's sweeper (every 30 s) can get this campaign going.
    sending.campaign_start(campaign=campaign)
    redis = {"process": start_redis(socket_path, log_path=logs["redis"])}

    def crash(number: int, outage: float) -> None:
        stop_process(redis["process"])
        time.sleep(outage)
        if number == len(OUTAGES):
            # The last time it comes back empty, its queued tasks lost with it.
            for data in var.glob("redis.[ar][od][fb]"):
                data.unlink()
        redis["process"] = start_redis(socket_path, log_path=logs["redis"])

    try:
        send_through_crashes(campaign, sink=watching_sink, settings=settings, env=env, logs=logs, crash=crash)
    finally:
        stop_process(redis["process"])


def rabbitmqctl(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", *arguments], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not settings.BROKER_IS_AMQP, reason="the broker is Redis: see the test above")
def test_campaign_sending_survives_rabbitmq_stopping_twice(watching_sink, settings, tmp_path):
    """The same with the queues on RabbitMQ: the broker application is stopped twice (every
    connection cut), the second time for longer than a publish is retried."""
    if shutil.which("rabbitmqctl") is None or rabbitmqctl("status").returncode != 0:
        pytest.skip("rabbitmqctl cannot control the RabbitMQ on this machine")
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat")}
    campaign = rate_limited_campaign()
    sending.campaign_start(campaign=campaign)

    def crash(_number: int, outage: float) -> None:
        assert rabbitmqctl("stop_app").returncode == 0
        try:
            time.sleep(outage)
        finally:
            assert rabbitmqctl("start_app").returncode == 0
            assert rabbitmqctl("await_startup").returncode == 0

    send_through_crashes(
        campaign, sink=watching_sink, settings=settings, env=smtp_env(settings), logs=logs, crash=crash
    )
