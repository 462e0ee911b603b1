"""What mailbox providers report back: hard and soft bounces, spam complaints, unsubscribes.

Two paths lead here: ESPs through Anymail's webhooks (``esp_event_record``) and the inbound app's
DSNs and ARF reports (``feedback_apply``, ``soft_bounce_record``). Each event is handled once: the
caller stores its id (``EspEvent`` here, ``InboundMessage`` there; unique) in the same transaction
as the state change. Nothing here ever makes an address mailable again: a complained address that
bounces later stays complained.
"""

import hashlib
import logging
from datetime import datetime

from anymail.signals import EventType
from django.conf import settings
from django.db import IntegrityError, transaction

from subscribers import signals
from subscribers.models import (
    ConsentRecord,
    EspEvent,
    Subscriber,
    Subscription,
    SuppressedAddress,
    email_hash,
    normalise_email,
)
from subscribers.services.consent import consent_record_add
from subscribers.services.preferences import subscriptions_end

logger = logging.getLogger(__name__)

# Everything else (delivered, opened, clicked, deferred, ...) is not kept here.
HANDLED_EVENT_TYPES = frozenset({EventType.BOUNCED, EventType.COMPLAINED, EventType.UNSUBSCRIBED})

# ESP classifications that Anymail still reports as "bounced" although the address may work later
# (Postmark's SoftBounce and its virus notice, SendGrid's "blocked", Mailgun's "temporary").
SOFT_BOUNCE_TYPES = frozenset({"SoftBounce", "VirusNotification", "Transient", "DnsError", "blocked", "temporary"})
# Of those, the ones that say "delayed, still trying": the ESP's final word comes as another event,
# so they are not counted as soft bounces (one message must not count twice).
DELAY_TYPES = frozenset({"Transient", "temporary"})

# Higher ranks say more; a state change never lowers the rank.
STATUS_RANK = {
    Subscriber.Status.PENDING: 0,
    Subscriber.Status.ACTIVE: 0,
    Subscriber.Status.UNSUBSCRIBED: 1,
    Subscriber.Status.BOUNCED: 2,
    Subscriber.Status.COMPLAINED: 3,
}
SUPPRESSION_RANK = {
    SuppressedAddress.Reason.ERASED: 0,
    SuppressedAddress.Reason.BOUNCED: 1,
    SuppressedAddress.Reason.COMPLAINED: 2,
    SuppressedAddress.Reason.MANUAL: 2,
}

LIVE_SUBSCRIPTION_STATUSES = (Subscription.Status.ACTIVE, Subscription.Status.PENDING)


def esp_bounce_type(*, esp_name: str, esp_event) -> str:
    """The ESP's own bounce classification, where Anymail's normalised event does not keep it."""
    if not isinstance(esp_event, dict):
        return ""
    if esp_name == "Postmark":
        return str(esp_event.get("Type") or "")
    if esp_name == "SendGrid":
        return str(esp_event.get("type") or "")
    if esp_name == "Mailgun":
        event_data = esp_event.get("event-data")
        return str(event_data.get("severity") or "") if isinstance(event_data, dict) else ""
    return ""


def derived_event_id(
    *, esp_name: str, event_type: str, message_id: str | None, recipient: str | None, timestamp: datetime | None
) -> str:
    """A stable id for ESP events that carry none (e.g. Postmark's subscription changes)."""
    parts = [
        esp_name,
        event_type,
        message_id or "",
        normalise_email(recipient or ""),
        timestamp.isoformat() if timestamp else "",
    ]
    return "derived:" + hashlib.sha256("|".join(parts).encode()).hexdigest()


def _stored_event_id(*, esp_name: str, event_id: str) -> str:
    stored = f"{esp_name}:{event_id}"
    if len(stored) > EspEvent._meta.get_field("event_id").max_length:
        stored = f"{esp_name}:sha256:{hashlib.sha256(event_id.encode()).hexdigest()}"
    return stored


def esp_event_record(
    *,
    event_id: str | None,
    esp_name: str,
    event_type: str,
    recipient: str | None,
    message_id: str | None = None,
    timestamp: datetime | None = None,
    reject_reason: str | None = None,
    description: str | None = None,
    bounce_type: str = "",
) -> EspEvent | None:
    """Apply one Anymail tracking event. Returns the new EspEvent, or None when ignored or seen before.

    Deferred mail and delays change nothing; soft bounces are counted (``soft_bounce_record``); an
    unknown recipient is recorded and changes nothing.
    """
    if event_type not in HANDLED_EVENT_TYPES:
        return None
    if event_type == EventType.BOUNCED and bounce_type in DELAY_TYPES:
        return None
    event_id = event_id or derived_event_id(
        esp_name=esp_name, event_type=event_type, message_id=message_id, recipient=recipient, timestamp=timestamp
    )
    email = normalise_email(recipient or "")
    with transaction.atomic():
        try:
            with transaction.atomic():
                esp_event = EspEvent.objects.create(
                    event_id=_stored_event_id(esp_name=esp_name, event_id=str(event_id)),
                    esp_name=esp_name[:50],
                    event_type=event_type[:32],
                    recipient=email[:254],
                    message_id=(message_id or "")[:255],
                )
        except IntegrityError:
            logger.info("%s event %s was handled before", esp_name, event_id)
            return None
        subscriber = Subscriber.objects.select_for_update().filter(email=email).first() if email else None
        if subscriber is None:
            return esp_event
        details = {
            "esp": esp_name,
            "event_id": str(event_id),
            "event_type": event_type,
            "message_id": message_id or "",
            "reject_reason": reject_reason or "",
            "bounce_type": bounce_type,
            "description": (description or "")[:500],
            "occurred_at": timestamp.isoformat() if timestamp else None,
        }
        if event_type == EventType.BOUNCED and bounce_type in SOFT_BOUNCE_TYPES:
            soft_bounce_record(subscriber=subscriber, details=details)
        else:
            feedback_apply(subscriber=subscriber, event_type=event_type, details=details)
    return esp_event


def feedback_apply(*, subscriber: Subscriber, event_type: str, details: dict) -> None:
    """Apply a hard bounce, a complaint or an unsubscribe (Anymail's event type) reported for ``subscriber``.

    Call it inside the transaction that stores the event's id, so a repeated report changes nothing.
    """
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        email = subscriber.email
        if event_type == EventType.BOUNCED:
            _status_raise(subscriber=subscriber, status=Subscriber.Status.BOUNCED)
            _suppress(email=email, reason=SuppressedAddress.Reason.BOUNCED)
            action = ConsentRecord.Action.BOUNCE
        elif event_type == EventType.COMPLAINED:
            details["unsubscribed_lists"] = _unsubscribe_all(subscriber=subscriber)
            _status_raise(subscriber=subscriber, status=Subscriber.Status.COMPLAINED)
            _suppress(email=email, reason=SuppressedAddress.Reason.COMPLAINED)
            action = ConsentRecord.Action.COMPLAINT
        elif event_type == EventType.UNSUBSCRIBED:
            details["unsubscribed_lists"] = _unsubscribe_all(subscriber=subscriber)
            _status_raise(subscriber=subscriber, status=Subscriber.Status.UNSUBSCRIBED)
            action = ConsentRecord.Action.UNSUBSCRIBE
        else:
            raise ValueError(f"Not a feedback event type: {event_type!r}")
        consent_record_add(subscriber=subscriber, action=action, details=details)
        if event_type in (EventType.BOUNCED, EventType.COMPLAINED):
            signals.esp_feedback_applied.send(sender=Subscriber, subscriber=subscriber, event_type=event_type)


def soft_bounce_record(*, subscriber: Subscriber, details: dict) -> bool:
    """Count one soft bounce; the KANAL_SOFT_BOUNCE_LIMIT-th in a row applies a hard bounce.

    Returns whether this one did. A human open or click starts the count again (``soft_bounces_reset``).
    Call it inside the transaction that stores the event's id, so a repeated report counts once.
    """
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        subscriber.soft_bounces += 1
        subscriber.save(update_fields=["soft_bounces", "updated_at"])
        if subscriber.soft_bounces < settings.KANAL_SOFT_BOUNCE_LIMIT:
            return False
        details = {**details, "soft_bounces": subscriber.soft_bounces}
        feedback_apply(subscriber=subscriber, event_type=EventType.BOUNCED, details=details)
        return True


def soft_bounces_reset(*, subscriber_ids) -> int:
    """The people opened or clicked a mail, so their address works: their soft bounces no longer run in a row."""
    return Subscriber.objects.filter(pk__in=list(subscriber_ids), soft_bounces__gt=0).update(soft_bounces=0)


def _status_raise(*, subscriber: Subscriber, status: str) -> None:
    if STATUS_RANK[status] > STATUS_RANK[subscriber.status]:
        subscriber.status = status
        subscriber.save(update_fields=["status", "updated_at"])


def _suppress(*, email: str, reason: str) -> None:
    suppressed, created = SuppressedAddress.objects.select_for_update().get_or_create(
        email_hash=email_hash(email), defaults={"reason": reason}
    )
    if not created and SUPPRESSION_RANK[reason] > SUPPRESSION_RANK[suppressed.reason]:
        suppressed.reason = reason
        suppressed.save(update_fields=["reason"])


def _unsubscribe_all(*, subscriber: Subscriber) -> list[str]:
    return [subscription.mailing_list.slug for subscription in subscriptions_end(subscriber=subscriber)]


def soft_bounces_reset_by_email(*, email: str) -> int:
    """The ESP delivered a mail to this address, so it works again: soft bounces start counting from zero."""
    email = normalise_email(email)
    if not email:
        return 0
    return Subscriber.objects.filter(email=email, soft_bounces__gt=0).update(soft_bounces=0)
