"""Applying a mail that came back: DSN bounces and ARF complaints through the subscribers app's
feedback rules, mailto unsubscribes through its preferences service. Auto-replies and unknown mail
are only logged."""

import logging

from anymail.signals import EventType
from django.db import IntegrityError, transaction
from django.db.models import Q

from campaigns.models import Delivery
from inbound import parsing
from inbound.models import InboundMessage
from subscribers import selectors as subscriber_selectors
from subscribers import tokens
from subscribers.models import Subscriber, normalise_email
from subscribers.services import feedback, preferences
from tracking.services.reports import delivery_report_record

logger = logging.getLogger(__name__)

Kind = InboundMessage.Kind
Outcome = InboundMessage.Outcome

# Enough for any DSN or ARF report and the headers it returns (their report parts come first); a
# longer mail is read this far, whichever way it came in.
MAX_BYTES = 1024 * 1024


def inbound_message_handle(*, raw: bytes, source: str) -> InboundMessage | None:
    """Classify one raw RFC 5322 mail and apply it. None when this mail was handled before."""
    raw = raw[:MAX_BYTES]
    parsed = parsing.parse(raw)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = InboundMessage.objects.create(
                    event_id=parsing.event_id(raw, parsed),
                    source=source[:60],
                    kind=Kind.UNKNOWN,
                    original_message_id=parsed.original_message_id[:255],
                )
        except IntegrityError:
            logger.info("Inbound mail %s was handled before", parsed.message_id or "(no Message-ID)")
            return None
        _HANDLERS[parsed.kind](record, parsed)
        record.save()
    logger.info(
        "Inbound mail %s from %s: %s, %s %s", record.event_id, source, record.kind, record.outcome, record.detail
    )
    return record


def _delivery(parsed: parsing.Parsed) -> Delivery | None:
    ref = parsed.delivery_ref
    if ref is None:
        return None
    campaign_id, delivery_id = ref
    return Delivery.objects.filter(pk=delivery_id, campaign_id=campaign_id).select_related("subscriber").first()


def _subscriber(*, delivery: Delivery | None, email: str) -> Subscriber | None:
    """Kanal's Message-ID names the delivery and so the person; the address is the fallback."""
    if delivery is not None and delivery.subscriber is not None:
        return delivery.subscriber
    email = normalise_email(email)
    return Subscriber.objects.filter(email=email).first() if email else None


def _details(record: InboundMessage, parsed: parsing.Parsed, **more) -> dict:
    return {
        "source": record.source,
        "event_id": record.event_id,
        "message_id": parsed.original_message_id,
        "delivery_id": record.delivery_id,
        **more,
    }


def _dsn(record: InboundMessage, parsed: parsing.Parsed) -> None:
    if not parsed.failures:
        record.detail = "no failed recipient"
        return
    delivery = _delivery(parsed)
    record.delivery = delivery
    # Kanal sends one recipient per mail; a DSN about several reports each, the worst one is logged.
    failures = sorted(parsed.failures, key=lambda failure: (not failure.is_hard, not failure.is_soft))
    for number, failure in enumerate(failures):
        subscriber = _subscriber(delivery=delivery if number == 0 else None, email=failure.recipient)
        if number == 0:
            record.recipient = failure.recipient[:254]
            record.subscriber = subscriber
            record.status_code = failure.status[:16]
            record.diagnostic = failure.diagnostic[:500]
            record.kind = Kind.HARD_BOUNCE if failure.is_hard else Kind.SOFT_BOUNCE if failure.is_soft else Kind.DELAYED
            if failure.is_hard or failure.is_soft:
                _report(record, EventType.BOUNCED, soft=failure.is_soft)
        if subscriber is None:
            if number == 0:
                record.outcome = Outcome.NO_SUBSCRIBER
            continue
        details = _details(
            record,
            parsed,
            kind="dsn",
            status=failure.status,
            diagnostic=failure.diagnostic,
            recipient=failure.recipient,
        )
        if failure.is_hard:
            feedback.feedback_apply(subscriber=subscriber, event_type=EventType.BOUNCED, details=details)
            applied, outcome = True, Outcome.BOUNCED
        elif failure.is_soft:
            applied = feedback.soft_bounce_record(subscriber=subscriber, details=details)
            outcome = Outcome.SOFT_BOUNCE_LIMIT if applied else Outcome.SOFT_BOUNCE_COUNTED
        else:
            applied, outcome = False, Outcome.IGNORED
        if number == 0:
            record.applied, record.outcome = applied, outcome


def _report(record: InboundMessage, event_type: str, *, soft: bool = False) -> None:
    """The campaign's delivery figures (tracking's DeliveryReport) count DSN and ARF reports as they
    count an ESP's."""
    if record.delivery is None:
        return
    delivery = record.delivery
    delivery_report_record(
        esp_name="inbound",
        event_id=record.event_id,
        event_type=event_type,
        metadata={"delivery_id": delivery.pk, "campaign_id": delivery.campaign_id},
        soft=soft,
    )


def _complaint(record: InboundMessage, parsed: parsing.Parsed) -> None:
    record.kind = Kind.COMPLAINT
    delivery = _delivery(parsed)
    subscriber = _subscriber(delivery=delivery, email=parsed.complaint_recipient)
    record.delivery = delivery
    record.subscriber = subscriber
    record.recipient = (subscriber.email if subscriber else parsed.complaint_recipient)[:254]
    if parsed.feedback_type not in ("abuse", ""):
        record.detail = ("Feedback-Type: " + parsed.feedback_type)[:200]
        return
    if subscriber is None:
        record.outcome = Outcome.NO_SUBSCRIBER
        return
    feedback.feedback_apply(
        subscriber=subscriber,
        event_type=EventType.COMPLAINED,
        details=_details(record, parsed, kind="arf", feedback_type=parsed.feedback_type),
    )
    record.applied, record.outcome = True, Outcome.COMPLAINED
    _report(record, EventType.COMPLAINED)


def _unsubscribe(record: InboundMessage, parsed: parsing.Parsed) -> None:
    record.kind = Kind.UNSUBSCRIBE
    try:
        subscriber = subscriber_selectors.subscriber_by_token(
            token=parsed.unsubscribe_token, purpose="mailto-unsubscribe"
        )
    except tokens.InvalidToken:
        record.outcome = Outcome.INVALID_TOKEN
        return
    if subscriber is None:
        record.outcome = Outcome.NO_SUBSCRIBER
        return
    record.subscriber = subscriber
    record.recipient = subscriber.email
    record.applied = preferences.subscriber_unsubscribe(subscriber=subscriber, source="mailto")
    record.outcome = Outcome.UNSUBSCRIBED if record.applied else Outcome.ALREADY_UNSUBSCRIBED


def _auto_reply(record: InboundMessage, parsed: parsing.Parsed) -> None:
    record.kind = Kind.AUTO_REPLY
    record.detail = parsed.reason[:200]


def _unknown(record: InboundMessage, parsed: parsing.Parsed) -> None:
    record.kind = Kind.UNKNOWN
    record.detail = parsed.reason[:200]


_HANDLERS = {
    parsing.Kind.DSN: _dsn,
    parsing.Kind.COMPLAINT: _complaint,
    parsing.Kind.UNSUBSCRIBE: _unsubscribe,
    parsing.Kind.AUTO_REPLY: _auto_reply,
    parsing.Kind.UNKNOWN: _unknown,
}


def inbound_messages_forget(subscriber: Subscriber) -> None:
    """GDPR erase: the log keeps what happened, not to whom."""
    InboundMessage.objects.filter(Q(subscriber=subscriber) | Q(recipient=subscriber.email)).update(
        recipient="", subscriber=None
    )
