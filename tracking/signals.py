"""Signals this app sends, and receivers for signals from other packages (Anymail's ESP webhooks,
for delivery reports)."""

import logging
from dataclasses import dataclass
from datetime import datetime

from anymail.signals import tracking
from django.dispatch import Signal, receiver

from subscribers.services.feedback import esp_bounce_type, soft_bounces_reset
from tracking.services import reports

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HumanEvent:
    """A person's open or click, linked to the subscriber who agreed to individual tracking."""

    kind: str
    campaign_id: int
    link_id: int | None
    article_id: int | None
    subscriber_id: int
    occurred_at: datetime


# Sent by the batcher once per counted batch, after it commits, with ``events``: a list of
# HumanEvent. The batch's labels are final then (burst and honeypot labels come at counting), and
# machine events, anonymous events and subscribers without tracking consent are left out.
# Automations listen (automations.signals).
human_events_counted = Signal()


@receiver(tracking, dispatch_uid="tracking.delivery_reports")
def esp_event_received(sender, event, esp_name, **kwargs):
    """Link delivered, bounce, complaint and unsubscribe events to their campaign delivery.

    Runs next to the subscribers app's receiver, which changes the subscriber; this one only
    records which delivery the event was about. A repeated webhook finds its report and stops.
    """
    if event.event_type not in reports.REPORTED_EVENT_TYPES:
        return
    reports.delivery_report_record(
        esp_name=esp_name,
        event_id=event.event_id,
        event_type=event.event_type,
        message_id=event.message_id,
        metadata=event.metadata,
        recipient=event.recipient,
        timestamp=event.timestamp,
        bounce_type=esp_bounce_type(esp_name=esp_name, esp_event=event.esp_event),
    )


@receiver(human_events_counted, dispatch_uid="tracking.soft_bounces_reset")
def human_events_were_counted(sender, events, **kwargs):
    """A person opened or clicked, so their address works: soft bounces start counting from zero."""
    soft_bounces_reset(subscriber_ids={event.subscriber_id for event in events})
