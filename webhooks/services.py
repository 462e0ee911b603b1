"""Publishing events to endpoints and delivering them: at least once, signed, with backoff."""

import json
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from newsletter_site import mail, outbound
from newsletter_site.permissions import has_staff_permissions
from webhooks import selectors, signing
from webhooks.events import TEST_EVENT
from webhooks.models import Delivery, Endpoint, Message

logger = logging.getLogger(__name__)

# After the first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, about 27.5 hours in all.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
# A retry this soon gets its own task; later ones are found by the beat sweep.
QUEUED_RETRY_LIMIT = timedelta(minutes=10)
# Longer than an attempt can take (the timeout), so a claim runs out only for a dead worker.
CLAIM_LEASE = timedelta(seconds=60)
RESPONSE_MAX_BYTES = 1024
ALERT_PERMISSION = "webhooks.change_endpoint"


def retry_delay(*, attempts: int) -> timedelta | None:
    """How long to wait after ``attempts`` failed attempts; None when it is time to give up."""
    return RETRY_DELAYS[attempts - 1] if 1 <= attempts <= len(RETRY_DELAYS) else None


def _enqueue(delivery_ids, countdown: float = 0) -> None:
    from webhooks.tasks import deliver

    for delivery_id in delivery_ids:
        deliver.apply_async(args=[delivery_id], countdown=countdown)


def _message_create(*, event_type: str, data: dict, endpoints, subscriber_id: int | None = None) -> Message:
    now = timezone.now()
    message = Message.objects.create(
        event_type=event_type,
        payload={"type": event_type, "timestamp": now.isoformat(), "data": data},
        subscriber_id=subscriber_id,
    )
    deliveries = Delivery.objects.bulk_create(
        Delivery(message=message, endpoint=endpoint, next_attempt_at=now) for endpoint in endpoints
    )
    ids = [delivery.pk for delivery in deliveries]
    if any(pk is None for pk in ids):
        ids = list(message.deliveries.values_list("pk", flat=True))
    transaction.on_commit(lambda: _enqueue(ids))
    return message


@transaction.atomic
def event_publish(*, event_type: str, data: dict, subscriber_id: int | None = None) -> Message | None:
    """Store the event and a delivery for each active endpoint that chose it, in the caller's
    transaction; the tasks are queued once it commits (the beat sweep catches a lost one).
    Nothing is stored when no endpoint wants the event."""
    endpoints = selectors.endpoints_for_event(event_type=event_type)
    if not endpoints:
        return None
    return _message_create(event_type=event_type, data=data, endpoints=endpoints, subscriber_id=subscriber_id)


def endpoint_test_send(*, endpoint: Endpoint) -> Message:
    """A ``webhook.test`` message to this endpoint alone, delivered and logged like any other."""
    return _message_create(
        event_type=TEST_EVENT, data={"endpoint": endpoint.pk, "description": endpoint.description}, endpoints=[endpoint]
    )


def _claim(*, delivery_id: int) -> bool:
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id,
        status__in=selectors.DUE_STATUSES,
        next_attempt_at__lte=now,
        endpoint__is_active=True,
    ).update(next_attempt_at=now + CLAIM_LEASE)
    return claimed == 1


def message_body(message: Message) -> bytes:
    return json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()


def delivery_attempt(*, delivery_id: int) -> Delivery | None:
    """Make one attempt if the delivery is due and no other worker has it; safe to call twice.

    2xx is success; anything else (another status, a timeout, a refused address) fails the
    attempt, and the next one is scheduled until the retries are used up.
    """
    if not _claim(delivery_id=delivery_id):
        return None
    delivery = Delivery.objects.select_related("message", "endpoint").get(pk=delivery_id)
    body = message_body(delivery.message)
    headers = {
        "Content-Type": "application/json",
        **signing.headers(
            secret=delivery.endpoint.secret,
            message_id=delivery.message.message_id,
            timestamp=int(time.time()),
            body=body,
        ),
    }
    status_code, response, error = None, "", ""
    try:
        answer = outbound.post(
            delivery.endpoint.url,
            body=body,
            headers=headers,
            timeout=settings.KANAL_WEBHOOK_TIMEOUT_SECONDS,
            max_bytes=RESPONSE_MAX_BYTES,
        )
        status_code, response = answer.status, answer.content.decode("utf-8", "replace")
    except outbound.FetchError as failure:
        error = f"{failure.code}: {failure.detail}"[:500]
    _attempt_record(delivery=delivery, status_code=status_code, response=response, error=error)
    return delivery


@transaction.atomic
def _attempt_record(*, delivery: Delivery, status_code: int | None, response: str, error: str) -> None:
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = status_code
    delivery.last_response = response
    delivery.last_error = error or ("" if status_code and 200 <= status_code < 300 else f"HTTP {status_code}")
    if status_code is not None and 200 <= status_code < 300:
        delivery.status, delivery.next_attempt_at = Delivery.Status.SUCCEEDED, None
        Endpoint.objects.filter(pk=delivery.endpoint_id).exclude(consecutive_failures=0).update(consecutive_failures=0)
    else:
        delay = retry_delay(attempts=delivery.attempts)
        if delay is None:
            delivery.status, delivery.next_attempt_at = Delivery.Status.EXHAUSTED, None
            endpoint_exhaustion_record(endpoint_id=delivery.endpoint_id)
        else:
            delivery.status, delivery.next_attempt_at = Delivery.Status.FAILED, now + delay
            if delay <= QUEUED_RETRY_LIMIT:
                transaction.on_commit(lambda: _enqueue([delivery.pk], countdown=delay.total_seconds()))
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_response",
            "last_error",
        ]
    )


def deliveries_requeue() -> int:
    """Beat: queue every due delivery (a lost task message, a dead worker's claim, a late retry)."""
    ids = list(selectors.deliveries_due().values_list("pk", flat=True)[:5000])
    _enqueue(ids)
    return len(ids)


@transaction.atomic
def deliveries_retry(*, delivery_ids) -> int:
    """Staff start given-up or failing deliveries afresh: a new round of retries, due now."""
    ids = list(
        Delivery.objects.filter(pk__in=delivery_ids)
        .exclude(status=Delivery.Status.SUCCEEDED)
        .values_list("pk", flat=True)
    )
    Delivery.objects.filter(pk__in=ids).update(
        status=Delivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    transaction.on_commit(lambda: _enqueue(ids))
    return len(ids)


def alert_recipients() -> list[str]:
    users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="").order_by("pk")
    return sorted({user.email for user in users if has_staff_permissions(user, ALERT_PERMISSION)})


@transaction.atomic
def endpoint_exhaustion_record(*, endpoint_id: int) -> bool:
    """Count a delivery given up; at ``KANAL_WEBHOOK_DISABLE_AFTER`` in a row, disable the endpoint
    and mail staff once. The row is locked, so two workers giving up at once send one mail.
    Returns whether the endpoint was disabled now."""
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
    endpoint.consecutive_failures += 1
    disable = endpoint.is_active and endpoint.consecutive_failures >= settings.KANAL_WEBHOOK_DISABLE_AFTER
    if disable:
        endpoint.is_active = False
        endpoint.disabled_at = timezone.now()
        endpoint.disabled_reason = gettext("%(count)d deliveries in a row were given up.") % {
            "count": endpoint.consecutive_failures
        }
    endpoint.save(update_fields=["consecutive_failures", "is_active", "disabled_at", "disabled_reason"])
    if disable:
        _disabled_mail_send(endpoint=endpoint)
    return disable


def _disabled_mail_send(*, endpoint: Endpoint) -> None:
    recipients = alert_recipients()
    if not recipients:
        logger.warning("Webhook endpoint %s was disabled and no staff user may change endpoints", endpoint.pk)
        return
    context = {
        "endpoint": endpoint,
        "url": settings.SITE_URL + reverse("admin:webhooks_endpoint_change", args=[endpoint.pk]),
    }
    subject = render_to_string("webhooks/email/endpoint_disabled_subject.txt", context).strip()
    text = render_to_string("webhooks/email/endpoint_disabled.txt", context)
    sender = mail.Sender.of(settings.DEFAULT_FROM_EMAIL)
    for address in recipients:
        mail.message(
            sender=sender,
            to=address,
            subject=subject,
            text=text,
            kind="webhook-disabled",
            tags=["webhook-disabled"],
            track=False,
        ).send()


@transaction.atomic
def endpoint_enable(*, endpoint: Endpoint) -> None:
    """Staff turned it back on: count afresh; waiting deliveries are due again."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        is_active=True, consecutive_failures=0, disabled_at=None, disabled_reason=""
    )


def subscriber_messages_erase(*, subscriber_id: int, public_id: str) -> int:
    """An erased subscriber's past events keep only their public id (pending deliveries too)."""
    messages = list(Message.objects.filter(subscriber_id=subscriber_id))
    for message in messages:
        message.payload = {**message.payload, "data": {"subscriber": {"id": public_id}, "erased": True}}
        message.subscriber_id = None
    Message.objects.bulk_update(messages, ["payload", "subscriber_id"])
    return len(messages)
