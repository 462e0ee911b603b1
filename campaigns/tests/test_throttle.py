"""The send rate limiter when its Redis goes away: wait for it, and end the batch cleanly if it stays away."""

import threading
from collections import Counter

import pytest

from campaigns import throttle
from campaigns.models import Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.tests.processes import start_redis, stop_process
from subscribers.tests.factories import MailingListFactory, bulk_active_subscribers

CLOSED_PORT_REDIS = "redis://127.0.0.1:9/0"


def test_rate_limiter_waits_while_redis_restarts(settings, tmp_path):
    socket_path = tmp_path / "redis.sock"
    log_path = tmp_path / "redis.log"
    redis = start_redis(socket_path, log_path=log_path)
    settings.REDIS_URL = f"unix://{socket_path}?db=0"
    settings.KANAL_SEND_RATE_PER_SECOND = 1000
    throttle.wait_for_slot()  # the client holds a connection to the server that is killed next
    stop_process(redis)
    outcome = []
    waiting = threading.Thread(target=lambda: outcome.append(_wait_for_slot()), daemon=True)
    try:
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive(), outcome  # still waiting for Redis, not failed
        redis = start_redis(socket_path, log_path=log_path)
        waiting.join(timeout=30)
        assert outcome == ["slot"]
    finally:
        stop_process(redis)


def _wait_for_slot() -> str:
    try:
        throttle.wait_for_slot()
    except Exception as error:  # the test shows what it was
        return repr(error)
    return "slot"


@pytest.mark.django_db
def test_batch_hands_its_rows_back_when_the_rate_limiter_has_no_redis(pipelining_sink, settings):
    news = MailingListFactory()
    bulk_active_subscribers(emails=[f"r{n}@example.org" for n in range(5)], mailing_list=news)
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    sending.deliveries_snapshot(campaign=campaign)
    campaign.status = campaign.Status.SENDING
    campaign.save(update_fields=["status"])
    settings.KANAL_SEND_RATE_PER_SECOND = 100
    settings.REDIS_URL = CLOSED_PORT_REDIS
    settings.KANAL_SEND_STALE_SECONDS = 1  # gives up after a quarter of it

    outcome = sending.delivery_batch_send(campaign_id=campaign.pk)

    assert outcome.retry_in == sending.RATE_LIMITER_RETRY_SECONDS
    rows = Delivery.objects.filter(campaign=campaign)
    assert Counter(rows.values_list("status", flat=True)) == {Delivery.Status.QUEUED: 5}
    assert set(rows.values_list("claim", flat=True)) == {""}
    assert pipelining_sink.recipients() == []
