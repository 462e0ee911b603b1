import email
import threading
import time
from datetime import timedelta

import pytest
from anymail.exceptions import AnymailAPIError
from django.core import mail
from django.utils import timezone

from campaigns import throttle
from subscribers.models import Subscriber, SuppressedAddress, email_hash
from subscribers.services.gdpr import subscriber_erase, subscriber_export
from subscribers.tests.factories import SubscriberFactory
from transactional import services
from transactional.models import TransactionalMessage
from transactional.services import TransactionalRefused, transactional_message_create, transactional_message_send
from transactional.tests.factories import TransactionalMessageFactory, TransactionalTemplateFactory

pytestmark = pytest.mark.django_db
Status = TransactionalMessage.Status


def suppress(address, reason):
    SuppressedAddress.objects.create(email_hash=email_hash(address), reason=reason)


def send(message):
    return transactional_message_send(message_id=message.pk)


def test_one_message_goes_out_once_with_its_values_and_no_tracking(django_capture_on_commit_callbacks):
    template = TransactionalTemplateFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        message = transactional_message_create(
            template=template, email="buyer@example.net", data={"order_number": "A-1", "total": 10}
        )
    assert len(callbacks) == 1  # the send task, queued once the request commits
    assert send(message).status == Status.SENT
    assert send(message).status == ""  # a retried or re-delivered task finds nothing queued
    [sent] = mail.outbox
    assert sent.to == ["buyer@example.net"]
    assert sent.subject == "Deine Bestellung A-1"
    assert sent.from_email == "Kanal Shop <shop@example.org>"
    assert sent.metadata == {
        "kind": "transactional",
        "transactional_message_id": str(message.public_id),
        "template": template.slug,
    }
    assert sent.track_clicks is False and sent.track_opens is False
    assert "List-Unsubscribe" not in sent.extra_headers
    message.refresh_from_db()
    assert (message.status, message.attempts, message.data) == (Status.SENT, 1, {})
    assert message.sent_at is not None


def test_an_address_of_a_subscriber_is_linked_to_them():
    subscriber = SubscriberFactory(first_name="Jana")
    message = transactional_message_create(template=TransactionalTemplateFactory(), email=subscriber.email, data={})
    assert message.subscriber == subscriber
    send(message)
    assert "Hallo Jana!" in mail.outbox[0].body
    assert mail.outbox[0].to == [f"Jana Mustermann <{subscriber.email}>"]


@pytest.mark.parametrize(
    ("reason", "service_mail_goes"),
    [
        (SuppressedAddress.Reason.ERASED, True),
        (SuppressedAddress.Reason.MANUAL, True),
        (SuppressedAddress.Reason.BOUNCED, False),
        (SuppressedAddress.Reason.COMPLAINED, False),
    ],
)
def test_suppressed_addresses_get_only_service_mail_and_never_after_a_bounce_or_complaint(reason, service_mail_goes):
    suppress("gone@example.net", reason)
    with pytest.raises(TransactionalRefused):
        transactional_message_create(template=TransactionalTemplateFactory(), email="gone@example.net", data={})
    service = TransactionalTemplateFactory(is_service_mail=True)
    if service_mail_goes:
        message = transactional_message_create(template=service, email="gone@example.net", data={})
        assert send(message).status == Status.SENT
    else:
        with pytest.raises(TransactionalRefused):
            transactional_message_create(template=service, email="gone@example.net", data={})


@pytest.mark.parametrize("status", [Subscriber.Status.UNSUBSCRIBED, Subscriber.Status.COMPLAINED])
def test_subscribers_who_opted_out_get_only_service_mail(status):
    subscriber = SubscriberFactory(status=status)
    with pytest.raises(TransactionalRefused):
        transactional_message_create(template=TransactionalTemplateFactory(), email=subscriber.email, data={})
    service = TransactionalTemplateFactory(is_service_mail=True)
    if status == Subscriber.Status.UNSUBSCRIBED:
        assert transactional_message_create(template=service, subscriber=subscriber, email=subscriber.email, data={})
    else:
        with pytest.raises(TransactionalRefused):
            transactional_message_create(template=service, subscriber=subscriber, email=subscriber.email, data={})


def test_consent_is_checked_again_when_the_mail_is_sent():
    message = transactional_message_create(template=TransactionalTemplateFactory(), email="late@example.net", data={})
    suppress("late@example.net", SuppressedAddress.Reason.MANUAL)
    assert send(message).status == Status.SUPPRESSED
    message.refresh_from_db()
    assert (message.error, message.data) == ("suppressed: manual", {})
    assert not mail.outbox


def test_transient_errors_retry_with_backoff_and_permanent_ones_fail(monkeypatch, settings):
    settings.KANAL_SEND_MAX_ATTEMPTS = 2
    message = TransactionalMessageFactory()
    errors = iter([AnymailAPIError("busy", status_code=503), AnymailAPIError("busy", status_code=503)])

    def failing(self, messages):
        raise next(errors)

    monkeypatch.setattr("anymail.backends.test.EmailBackend.send_messages", failing)
    outcome = send(message)
    assert (outcome.status, outcome.retry_in) == (Status.QUEUED, 2.0)
    message.refresh_from_db()
    assert message.attempts == 1 and message.retry_at > timezone.now()
    outcome = send(message)
    assert (outcome.status, outcome.retry_in) == (Status.FAILED, None)

    refused = TransactionalMessageFactory()
    monkeypatch.setattr(
        "anymail.backends.test.EmailBackend.send_messages",
        lambda self, messages: (_ for _ in ()).throw(AnymailAPIError("bad address", status_code=400)),
    )
    assert send(refused).status == Status.FAILED
    refused.refresh_from_db()
    assert "bad address" in refused.error and refused.data == {}


def test_sweep_hands_back_only_stale_claims_and_requeues_lost_tasks(django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr(services, "_queue_send", lambda *, message_id, countdown=None: queued.append(message_id))
    now = timezone.now()
    stale = TransactionalMessageFactory(status=Status.SENDING, claim="x", claimed_at=now - timedelta(hours=1))
    fresh = TransactionalMessageFactory(status=Status.SENDING, claim="y", claimed_at=now)
    sent = TransactionalMessageFactory(status=Status.SENT, sent_at=now)
    waiting = TransactionalMessageFactory(retry_at=now + timedelta(minutes=5))
    TransactionalMessage.objects.update(created_at=now - timedelta(minutes=5))
    assert services.transactional_messages_sweep() == 1
    statuses = dict(TransactionalMessage.objects.values_list("pk", "status"))
    assert statuses[stale.pk] == Status.QUEUED and statuses[fresh.pk] == Status.SENDING
    assert statuses[sent.pk] == Status.SENT
    assert statuses[waiting.pk] == Status.QUEUED
    assert queued == [stale.pk]  # not the one waiting for its retry


def test_smtp_marks_the_row_sent_before_the_final_dot_with_a_stable_message_id(smtp_sink):
    message = TransactionalMessageFactory()
    marked = []
    original = services.MessageLedger.sent_at_final_dot

    def watch(ledger, delivery, *, esp_message_id):
        result = original(ledger, delivery, esp_message_id=esp_message_id)
        marked.append((TransactionalMessage.objects.get(pk=delivery.pk).status, len(smtp_sink.messages)))
        return result

    services.MessageLedger.sent_at_final_dot = watch
    try:
        assert send(message).status == Status.SENT
    finally:
        services.MessageLedger.sent_at_final_dot = original
    assert marked == [(Status.SENT, 0)]  # recorded before the server had the message
    [(recipients, data)] = smtp_sink.messages
    parsed = email.message_from_bytes(data)
    assert recipients == [message.email]
    assert parsed["Message-ID"] == f"<kanal.t{message.pk}@example.org>"
    assert parsed["List-Unsubscribe"] is None


@pytest.mark.parametrize(
    ("reply", "status", "retry_in"), [("554 no thanks", Status.FAILED, None), ("451 later", Status.QUEUED, 2.0)]
)
def test_a_refusal_after_the_final_dot_undoes_sent(smtp_sink, monkeypatch, reply, status, retry_in):
    async def refuse(self, server, session, envelope):
        return reply

    monkeypatch.setattr(type(smtp_sink), "handle_DATA", refuse)
    message = TransactionalMessageFactory()
    assert send(message) == services.SendOutcome(status=status, retry_in=retry_in)
    message.refresh_from_db()
    assert message.sent_at is None and reply[:3] in message.error


def test_erasing_a_subscriber_keeps_the_figures_but_not_the_address():
    subscriber = SubscriberFactory()
    sent = TransactionalMessageFactory(
        email=subscriber.email, subscriber=subscriber, status=Status.SENT, sent_at=timezone.now()
    )
    waiting = TransactionalMessageFactory(email=subscriber.email)
    other = TransactionalMessageFactory()
    subscriber_erase(subscriber=subscriber)
    sent.refresh_from_db()
    waiting.refresh_from_db()
    assert (sent.email, sent.data, sent.status) == ("", {}, Status.SENT)
    assert (waiting.email, waiting.status) == ("", Status.SUPPRESSED)
    assert TransactionalMessage.objects.get(pk=other.pk).email == other.email
    assert send(waiting).status == ""


def test_an_smtp_outage_is_transient(settings):
    settings.EMAIL_BACKEND = "newsletter_site.smtp_backend.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens
    outcome = send(TransactionalMessageFactory())
    assert outcome.status == Status.QUEUED and outcome.retry_in == 2.0


def test_the_gdpr_export_lists_the_persons_transactional_mails():
    subscriber = SubscriberFactory()
    TransactionalMessageFactory(email=subscriber.email, subscriber=subscriber)
    TransactionalMessageFactory(email=subscriber.email, data={"order_number": "B-2"})
    TransactionalMessageFactory()
    section = subscriber_export(subscriber=subscriber)["transactional_mails"]
    assert [row["merge_data"].get("order_number") for row in section] == ["A-1001", "B-2"]


def test_without_the_rate_limiters_redis_the_message_waits_and_is_not_sent(monkeypatch):
    def unavailable():
        raise throttle.RateLimiterUnavailable("redis down")

    monkeypatch.setattr(throttle, "wait_for_slot", unavailable)
    message = TransactionalMessageFactory()
    outcome = send(message)
    assert (outcome.status, outcome.retry_in) == (Status.QUEUED, services.RATE_LIMITER_RETRY_SECONDS)
    assert not mail.outbox
    message.refresh_from_db()
    assert (message.claim, message.attempts) == ("", 0)


def test_the_shared_send_rate_holds_transactional_mail_too(settings):
    settings.KANAL_SEND_RATE_PER_SECOND = 1
    throttle._client(settings.REDIS_URL).flushdb()
    seconds = []
    for message in TransactionalMessageFactory.create_batch(3):
        send(message)
        seconds.append(int(time.time()))
    assert len(mail.outbox) == 3
    assert len(set(seconds)) == 3  # one message per second, as for newsletters


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_message_at_once_send_it_once():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    message = TransactionalMessageFactory()
    barrier = threading.Barrier(4)
    outcomes = []

    def worker():
        try:
            barrier.wait()
            outcomes.append(send(message).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _thread in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["", "", "", Status.SENT]
    assert len(mail.outbox) == 1
