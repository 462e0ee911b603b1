"""/metrics: Prometheus text read from the database, Redis and the broker at scrape time."""

import os
import time
import uuid

import pytest
from kombu import Connection, Queue
from prometheus_client.parser import text_string_to_metric_families

from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory, subscribe
from campaigns.tests.test_sending import FlakyBackend
from dashboard.metrics import queue_depths
from dashboard.tasks import WORKER_HEARTBEAT
from dashboard.tests.test_health import call
from newsletter_site import heartbeat
from newsletter_site.celery import app
from newsletter_site.testing import wait_until
from subscribers.tests.factories import MailingListFactory
from tracking import event_queue
from transactional.services import transactional_message_create, transactional_message_send
from transactional.tests.factories import TransactionalTemplateFactory
from webhooks import services as webhook_services
from webhooks.models import Delivery as WebhookDelivery
from webhooks.models import Endpoint

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"


@pytest.fixture
def metrics_token(settings):
    settings.KANAL_METRICS_TOKEN = TOKEN


def scrape() -> dict[tuple[str, tuple], float]:
    status, headers, body = call("/metrics", authorization=f"Bearer {TOKEN}")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_without_a_token_setting_metrics_is_not_there(settings):
    settings.KANAL_METRICS_TOKEN = ""
    assert call("/metrics", host="testserver")[0] == 404


def test_a_wrong_or_missing_token_is_refused(metrics_token):
    assert call("/metrics")[0] == 401
    status, headers, body = call("/metrics", authorization="Bearer wrong")
    assert (status, body, headers["WWW-Authenticate"]) == (401, b"", "Bearer")
    assert call("/metrics", authorization=TOKEN)[0] == 401


def test_metrics_count_sent_and_failed_messages_queues_lag_and_webhook_failures(
    metrics_token, django_capture_on_commit_callbacks, settings
):
    news = MailingListFactory()
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    subscribe(news, 3)
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    # The first message fails for good (one attempt allowed), the other two go out.
    settings.KANAL_SEND_MAX_ATTEMPTS = 1
    settings.EMAIL_BACKEND = "campaigns.tests.test_sending.FlakyBackend"
    FlakyBackend.failures = [ConnectionRefusedError("ESP down")]
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    for address in ("a@example.net", "b@example.net"):
        message = transactional_message_create(template=TransactionalTemplateFactory(), email=address, data={})
        transactional_message_send(message_id=message.pk)

    for _ in range(2):
        app.send_task("dashboard.tasks.worker_heartbeat")
    app.send_task("automations.tasks.tick", queue="automations")
    event_queue.push(
        event_queue.event_line(
            kind="o", head=False, ip_hash="", user_agent="Mail", occurred_ms=int(time.time() * 1000) - 30_000
        )
    )
    endpoint = Endpoint.objects.create(url="https://crm.example/hook", events=["subscriber.confirmed"])
    webhook_services.event_publish(event_type="subscriber.confirmed", data={})
    WebhookDelivery.objects.filter(endpoint=endpoint).update(status=WebhookDelivery.Status.EXHAUSTED)
    heartbeat.beat(WORKER_HEARTBEAT)

    samples = scrape()

    assert samples[("kanal_messages_sent_total", (("kind", "campaign"),))] == 2
    assert samples[("kanal_messages_failed_total", (("kind", "campaign"),))] == 1
    assert samples[("kanal_messages_sent_total", (("kind", "transactional"),))] == 2
    assert samples[("kanal_messages_failed_total", (("kind", "transactional"),))] == 0
    assert samples[("kanal_queue_messages", (("queue", "celery"),))] == 2
    assert samples[("kanal_queue_messages", (("queue", "automations"),))] == 1
    assert 29 < samples[("kanal_tracking_batcher_lag_seconds", ())] < 60
    assert samples[("kanal_tracking_events_pending", ())] == 1
    assert samples[("kanal_webhook_deliveries", (("status", "exhausted"),))] == 1
    assert samples[("kanal_webhook_deliveries", (("status", "failed"),))] == 0
    assert samples[("kanal_heartbeat_stale", (("name", WORKER_HEARTBEAT),))] == 0
    assert samples[("kanal_heartbeat_stale", (("name", "tracking-batcher"),))] == 1
    assert all(value == 1 for (name, _labels), value in samples.items() if name == "kanal_metrics_source_up")


def test_an_empty_installation_has_every_metric_at_zero(metrics_token):
    samples = scrape()
    assert samples[("kanal_messages_sent_total", (("kind", "campaign"),))] == 0
    assert samples[("kanal_messages_sent_total", (("kind", "transactional"),))] == 0
    assert samples[("kanal_queue_messages", (("queue", "celery"),))] == 0
    assert samples[("kanal_tracking_batcher_lag_seconds", ())] == 0


def test_a_source_that_cannot_be_read_is_reported_and_the_rest_still_answers(metrics_token, settings):
    settings.KANAL_TRACKING_REDIS_URL = "redis://127.0.0.1:9/0"
    samples = scrape()
    assert samples[("kanal_metrics_source_up", (("source", "tracking"),))] == 0
    assert ("kanal_tracking_batcher_lag_seconds", ()) not in samples
    assert samples[("kanal_metrics_source_up", (("source", "messages"),))] == 1


AMQP_URL = os.environ.get("KANAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def rabbitmq(monkeypatch):
    """The broker switched to RabbitMQ, with two queues of this test's own (workers of other runs on
    the same server must not see its messages): one declared, one never declared."""
    try:
        with Connection(AMQP_URL, connect_timeout=3) as connection:
            connection.connect()
    except OSError as error:
        pytest.skip(f"no RabbitMQ at {AMQP_URL}: {error}")
    suffix = uuid.uuid4().hex[:8]
    declared, never = Queue(f"kanal-test-{suffix}", auto_delete=False), Queue(f"kanal-test-never-{suffix}")
    monkeypatch.setattr(app.conf, "broker_url", AMQP_URL)
    monkeypatch.setattr(app.conf, "task_queues", (declared, never))
    with Connection(AMQP_URL) as connection:
        producer = connection.Producer()
        for number in range(3):
            producer.publish({"n": number}, routing_key=declared.name, declare=[declared])
        yield declared, never
        declared.bind(connection.default_channel).delete()


def test_queue_depth_on_rabbitmq_is_a_passive_declare(rabbitmq):
    declared, never = rabbitmq
    assert wait_until(lambda: queue_depths() == {declared.name: 3, never.name: 0}, timeout=5)
