"""The upgrade procedure's second step (docs/operations.md, "Upgrades with zero lost deliveries"):
SIGTERM to a worker started as production starts it lets the running batch finish."""

import signal
from collections import Counter

import pytest

from campaigns.models import Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.testing import wait_until
from newsletter_site.tests.processes import logs_shown_on_failure, start_process, stop_process
from subscribers.tests.factories import MailingListFactory, bulk_active_subscribers

RECIPIENTS = 30


@pytest.mark.django_db(transaction=True)
def test_sigterm_mid_batch_finishes_the_batch_and_sends_each_message_once(smtp_sink, settings, tmp_path):
    env = {
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": settings.EMAIL_PORT,
        "SITE_URL": "https://news.example.com",
        # One batch of all 30 at 10 messages/s: three seconds of sending to interrupt.
        "KANAL_SEND_BATCH_SIZE": RECIPIENTS,
        "KANAL_SEND_PARALLEL_BATCHES": 1,
        "KANAL_SEND_RATE_PER_SECOND": 10,
        "KANAL_WORKER_CONCURRENCY": 1,
    }
    news = MailingListFactory()
    emails = [f"r{n}@example.org" for n in range(RECIPIENTS)]
    bulk_active_subscribers(emails=emails, mailing_list=news)
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    log_path = tmp_path / "worker.log"
    worker = start_process("worker", env=env, log_path=log_path)
    with logs_shown_on_failure(log_path):
        try:
            sending.campaign_start(campaign=campaign)
            wait_until(lambda: smtp_sink.recipients(), timeout=60, interval=0.1, message="the first message")

            # What `docker stop` does: SIGTERM to the container's process, the Celery worker itself.
            worker.send_signal(signal.SIGTERM)
            assert len(smtp_sink.recipients()) < RECIPIENTS, "the signal came after the batch, not in it"
            assert worker.wait(timeout=60) == 0

            assert Counter(smtp_sink.recipients()) == Counter(emails)
            assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
        finally:
            if worker.poll() is None:
                stop_process(worker)
