import itertools
import json
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from standardwebhooks import Webhook

from subscribers import tokens
from subscribers.services import optin
from subscribers.tests.factories import MailingListFactory
from webhooks import services, tasks
from webhooks.models import Delivery, Endpoint, Message

pytestmark = pytest.mark.django_db


def confirm_signup(email="neu@example.org", mailing_list=None):
    outcome = optin.subscriber_subscribe(
        email=email, mailing_list=mailing_list or MailingListFactory(), consent_text=None, first_name="Neu"
    )
    token = tokens.make_confirmation_token(
        subscription_id=outcome.subscription.pk, nonce=outcome.subscription.confirmation_nonce
    )
    optin.subscription_confirm(token=token)
    return outcome.subscription, token


def due_now(delivery):
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_confirmed_subscription_creates_one_message_and_a_delivery_per_subscribed_endpoint(endpoint):
    wants_all = Endpoint.objects.create(
        url="https://crm.example/all", events=["subscriber.confirmed", "offer.redeemed"]
    )
    Endpoint.objects.create(url="https://crm.example/offers", events=["offer.redeemed"])
    Endpoint.objects.create(url="https://crm.example/off", events=["subscriber.confirmed"], is_active=False)

    subscription, _token = confirm_signup()

    message = Message.objects.get()
    assert message.event_type == "subscriber.confirmed"
    assert message.message_id.startswith("msg_")
    assert message.payload["data"]["subscriber"]["email"] == "neu@example.org"
    assert message.payload["data"]["list"]["slug"] == subscription.mailing_list.slug
    assert {delivery.endpoint_id for delivery in message.deliveries.all()} == {endpoint.pk, wants_all.pk}
    assert set(message.deliveries.values_list("status", flat=True)) == {Delivery.Status.PENDING}


def test_no_endpoint_for_the_event_stores_nothing(db):
    Endpoint.objects.create(url="https://crm.example/offers", events=["offer.redeemed"])
    confirm_signup()
    assert not Message.objects.exists()


def test_payload_carries_no_tokens(endpoint):
    subscription, confirmation_token = confirm_signup()
    subscriber = subscription.subscriber
    body = services.message_body(Message.objects.get()).decode()

    unsubscribe_token = tokens.make_subscriber_token(
        public_id=subscriber.public_id, token_version=subscriber.token_version, purpose="unsubscribe"
    )
    assert confirmation_token not in body
    assert unsubscribe_token not in body
    assert "token" not in body.lower() and "nonce" not in body.lower()
    assert str(subscriber.public_id) in body


def test_delivery_is_enqueued_only_after_the_transaction_commits(
    endpoint, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(services, "_enqueue", lambda ids, countdown=0: queued.extend(ids))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        confirm_signup()
    assert queued == []
    for callback in callbacks:
        callback()
    assert queued == [endpoint.pk]


def test_receiver_gets_a_signed_post_with_the_stable_message_id(endpoint, receiver, loopback_allowed):
    confirm_signup()
    delivery = Delivery.objects.get()

    services.endpoint_deliver(endpoint_id=endpoint.pk)

    [request] = receiver.requests
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["webhook-id"] == delivery.message.message_id
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 30
    assert headers["content-type"] == "application/json"
    payload = Webhook(endpoint.secret).verify(request["body"], headers)
    assert payload["type"] == "subscriber.confirmed"
    assert payload["data"]["subscriber"]["first_name"] == "Neu"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Delivery.Status.SUCCEEDED, 1, 200)


def test_retry_schedule_backs_off_for_more_than_a_day_then_gives_up():
    delays = []
    attempts = 1
    while (delay := services.retry_delay(attempts=attempts)) is not None:
        delays.append(delay)
        attempts += 1
    assert delays[0] == timedelta(seconds=5)
    assert all(later > earlier for earlier, later in itertools.pairwise(delays[:6]))
    assert sum(delays, timedelta()) >= timedelta(hours=24)
    assert services.retry_delay(attempts=len(delays) + 1) is None


def test_a_500_answer_is_retried_on_the_schedule_and_succeeds_later(endpoint, receiver, loopback_allowed, monkeypatch):
    receiver.statuses = [500, 200]
    confirm_signup()
    delivery = Delivery.objects.get()
    queued = []
    monkeypatch.setattr(services, "_enqueue", lambda ids, countdown=0: queued.append((list(ids), countdown)))

    before = timezone.now()
    services.endpoint_deliver(endpoint_id=endpoint.pk)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert (delivery.attempts, delivery.last_status_code) == (1, 500)
    assert len(delivery.last_response.encode()) <= 1024
    assert before + timedelta(seconds=5) <= delivery.next_attempt_at <= timezone.now() + timedelta(seconds=5)
    assert queued == [([endpoint.pk], 5.0)]  # the 5-second retry is queued with a countdown

    assert services.endpoint_deliver(endpoint_id=endpoint.pk) == 0  # not due yet: nothing sent
    assert len(receiver.requests) == 1

    due_now(delivery)
    services.endpoint_deliver(endpoint_id=endpoint.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Delivery.Status.SUCCEEDED, 2, 200)
    assert len(receiver.requests) == 2
    assert {request["headers"]["webhook-id"] for request in receiver.requests} == {delivery.message.message_id}


def test_private_address_is_refused_without_the_allow_list(endpoint, receiver):
    confirm_signup()
    delivery = Delivery.objects.get()

    services.endpoint_deliver(endpoint_id=endpoint.pk)

    delivery.refresh_from_db()
    assert receiver.requests == []
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.last_error.startswith("private_address")


def test_last_attempt_exhausts_the_delivery(endpoint, receiver, loopback_allowed):
    receiver.statuses = [503]
    confirm_signup()
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(attempts=len(services.RETRY_DELAYS))

    services.endpoint_deliver(endpoint_id=endpoint.pk)

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.EXHAUSTED
    assert delivery.next_attempt_at is None
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1 and endpoint.is_active


def test_repeated_exhaustion_disables_the_endpoint_and_mails_staff_once(endpoint, settings, django_user_model):
    settings.KANAL_WEBHOOK_DISABLE_AFTER = 3
    django_user_model.objects.create_superuser("boss", "boss@example.org", "x")
    django_user_model.objects.create_user("clerk", "clerk@example.org", "x", is_staff=True)  # no permission

    disabled = [services.endpoint_exhaustion_record(endpoint_id=endpoint.pk) for _ in range(5)]

    assert disabled == [False, False, True, False, False]
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_at is not None
    assert "5" not in endpoint.disabled_reason and "3" in endpoint.disabled_reason
    assert [message.to for message in mail.outbox] == [["boss@example.org"]]
    assert endpoint.url in mail.outbox[0].body
    assert f"/admin/webhooks/endpoint/{endpoint.pk}/" in mail.outbox[0].body


def test_a_success_resets_the_count_of_exhausted_deliveries(endpoint, receiver, loopback_allowed):
    Endpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=4)
    confirm_signup()
    services.endpoint_deliver(endpoint_id=endpoint.pk)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_disabled_endpoint_gets_no_attempts(endpoint, receiver, loopback_allowed):
    confirm_signup()
    Endpoint.objects.filter(pk=endpoint.pk).update(is_active=False)

    assert services.endpoint_deliver(endpoint_id=endpoint.pk) == 0
    assert services.deliveries_requeue() == 0
    assert receiver.requests == []


def test_a_claimed_delivery_is_not_sent_by_a_second_worker(endpoint, receiver, loopback_allowed):
    confirm_signup()
    delivery = Delivery.objects.get()
    assert services._claim(endpoint_id=endpoint.pk) == [delivery.pk]
    assert services._claim(endpoint_id=endpoint.pk) == []
    assert services.endpoint_deliver(endpoint_id=endpoint.pk) == 0
    assert receiver.requests == []


def test_beat_requeues_a_stuck_pending_delivery(endpoint, monkeypatch):
    confirm_signup()
    delivery = Delivery.objects.get()
    queued = []
    monkeypatch.setattr(services, "_enqueue", lambda ids, countdown=0: queued.extend(ids))
    # A worker claimed it and died: the claim runs out after the lease.
    assert services._claim(endpoint_id=endpoint.pk) == [delivery.pk]
    assert services.deliveries_requeue() == 0
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))

    tasks.requeue_due_deliveries()
    assert queued == [endpoint.pk]


def test_the_requeue_runs_on_the_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["webhooks-requeue"]
    assert entry["task"] == tasks.requeue_due_deliveries.name
    assert entry["schedule"] <= 60


def test_erasure_strips_past_messages_and_announces_the_erasure(endpoint):
    from subscribers.services import gdpr

    endpoint.events = ["subscriber.confirmed", "subscriber.erased"]
    endpoint.save()
    subscription, _token = confirm_signup()
    public_id = str(subscription.subscriber.public_id)

    gdpr.subscriber_erase(subscriber=subscription.subscriber)

    confirmed = Message.objects.get(event_type="subscriber.confirmed")
    assert "neu@example.org" not in json.dumps(confirmed.payload)
    erased = Message.objects.get(event_type="subscriber.erased")
    assert erased.payload["data"] == {"subscriber": {"id": public_id}}


def test_a_redirect_is_not_followed_and_counts_as_a_failure(endpoint, receiver, loopback_allowed):
    receiver.statuses = [307]
    confirm_signup()
    delivery = Delivery.objects.get()

    services.endpoint_deliver(endpoint_id=endpoint.pk)

    delivery.refresh_from_db()
    assert len(receiver.requests) == 1
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == (
        Delivery.Status.FAILED,
        307,
        "HTTP 307",
    )
