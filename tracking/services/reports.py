"""ESP webhook events (through Anymail) linked to the campaign delivery they are about.

The sender puts ``metadata={"delivery_id": …, "campaign_id": …}`` on every campaign message, and
ESPs that echo metadata hand it back; otherwise the ESP message id stored on the delivery links
the event. Mails that are not campaign deliveries (confirmation mails, test sends) are ignored
here; the subscribers app still acts on their bounces and complaints.
"""

import hashlib
from datetime import datetime

from anymail.signals import EventType
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.models import Delivery
from subscribers.services.feedback import SOFT_BOUNCE_TYPES, derived_event_id
from tracking.models import DeliveryReport

Kind = DeliveryReport.Kind
REPORTED_EVENT_TYPES = {
    EventType.DELIVERED: Kind.DELIVERED,
    EventType.BOUNCED: Kind.BOUNCED,
    EventType.REJECTED: Kind.REJECTED,
    EventType.COMPLAINED: Kind.COMPLAINED,
    EventType.UNSUBSCRIBED: Kind.UNSUBSCRIBED,
}


def delivery_for_esp_event(*, metadata: dict | None, message_id: str | None) -> Delivery | None:
    """The delivery an ESP event is about: by Anymail metadata first, then by ESP message id."""
    metadata = metadata if isinstance(metadata, dict) else {}
    try:
        delivery_id = int(metadata.get("delivery_id") or 0)
    except (TypeError, ValueError):
        delivery_id = 0
    if delivery_id > 0:
        delivery = Delivery.objects.filter(pk=delivery_id).first()
        campaign_id = str(metadata.get("campaign_id") or "")
        if delivery is not None and (not campaign_id or campaign_id == str(delivery.campaign_id)):
            return delivery
    if message_id:
        return Delivery.objects.filter(esp_message_id=message_id).order_by("pk").first()
    return None


def delivery_report_record(
    *,
    esp_name: str,
    event_id: str | None,
    event_type: str,
    message_id: str | None = None,
    metadata: dict | None = None,
    recipient: str | None = None,
    timestamp: datetime | None = None,
    bounce_type: str = "",
    soft: bool = False,
) -> DeliveryReport | None:
    """Link one ESP event (or a DSN or ARF report, from the inbound app) to its delivery. None when it
    is of no interest, not a campaign mail, or seen before. ``soft``: a bounce the sender already
    knows to be soft."""
    kind = REPORTED_EVENT_TYPES.get(event_type)
    if kind is None:
        return None
    if kind == Kind.BOUNCED and (soft or bounce_type in SOFT_BOUNCE_TYPES):
        kind = Kind.SOFT_BOUNCED
    delivery = delivery_for_esp_event(metadata=metadata, message_id=message_id)
    if delivery is None:
        return None
    event_id = event_id or derived_event_id(
        esp_name=esp_name, event_type=event_type, message_id=message_id, recipient=recipient, timestamp=timestamp
    )
    key = f"{esp_name}:{event_id}"
    if len(key) > DeliveryReport._meta.get_field("report_key").max_length:
        key = f"{esp_name[:50]}:sha256:{hashlib.sha256(str(event_id).encode()).hexdigest()}"
    try:
        with transaction.atomic():
            return DeliveryReport.objects.create(
                report_key=key,
                esp_name=esp_name[:50],
                kind=kind,
                campaign_id=delivery.campaign_id,
                delivery=delivery,
                occurred_at=timestamp or timezone.now(),
            )
    except IntegrityError:
        return None
