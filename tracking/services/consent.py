"""Tracking and consent: unlinking a person's events when they withdraw consent or are erased."""

from subscribers.models import Subscriber
from tracking.models import DeliveryRead, Event, SubscriberEngagement


def subscriber_events_forget(*, subscriber_id: int) -> int:
    """Unlink every stored open and click from the subscriber's deliveries; the counters stay.

    Call it when a subscriber withdraws tracking consent. Events still waiting in Redis are
    unlinked as they are stored, because the batcher reads the consent at that moment. The
    engagement score, derived from those events, goes too, and so does what expired events left
    (``DeliveryRead`` rows name the delivery and mean nothing without it).
    """
    SubscriberEngagement.objects.filter(subscriber_id=subscriber_id).delete()
    DeliveryRead.objects.filter(delivery__subscriber_id=subscriber_id).delete()
    return Event.objects.filter(delivery__subscriber_id=subscriber_id).update(delivery=None)


def subscriber_events_forget_hook(subscriber: Subscriber) -> None:
    """Hook for erasure (subscribers.services.gdpr.ERASE_HOOKS) and for a withdrawn tracking consent
    (subscribers.services.preferences.TRACKING_WITHDRAWN_HOOKS)."""
    subscriber_events_forget(subscriber_id=subscriber.pk)


def message_events_forget(*, message_ids) -> int:
    """Delete the stored events of these transactional messages (their recipient withdrew tracking
    consent or was erased): without the message they would name nothing. The counters stay."""
    return Event.objects.filter(message_id__in=list(message_ids)).delete()[0]
