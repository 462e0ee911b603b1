"""Signals this app sends, and receivers for signals from other packages (Anymail's ESP webhooks)."""

from anymail.signals import EventType, tracking
from django.dispatch import Signal, receiver

from subscribers.services import feedback

# Sent with ``subscription`` inside the transaction that confirms it (double opt-in done), so a
# receiver's writes commit or roll back with the confirmation. Automations listen (automations.signals).
subscription_confirmed = Signal()

# Sent with ``subscription`` and its new "signup" ``consent_record`` inside the transaction of
# ``optin.subscriber_subscribe`` (not for an address already active on the list). Referrals listen.
signup_recorded = Signal()

# Sent with ``subscriber`` and the ``subscriptions`` just ended (unsubscribed), inside the transaction
# that ends them, whatever the path (preference page, one-click, ESP feedback). Webhooks listen.
subscriptions_ended = Signal()

# Sent with ``subscriber`` and ``event_type`` (Anymail's "bounced" or "complained") inside the
# transaction that applies a hard bounce or a complaint an ESP reported. Webhooks listen.
esp_feedback_applied = Signal()


@receiver(tracking, dispatch_uid="subscribers.esp_feedback")
def esp_tracking_event_received(sender, event, esp_name, **kwargs):
    """Hand bounces, complaints and ESP unsubscribes to the feedback service; a delivery ends a run of
    soft bounces; ignore everything else.

    Webhooks arrive only with ANYMAIL_WEBHOOK_SECRET set (newsletter_site.urls, newsletter_site.checks).

    The work is a few indexed queries, done before the webhook answers: an error makes the ESP
    deliver the event again, and the EspEvent row makes that repeat harmless.
    """
    if event.event_type == EventType.DELIVERED:
        feedback.soft_bounces_reset_by_email(email=event.recipient or "")
        return
    if event.event_type not in feedback.HANDLED_EVENT_TYPES:
        return
    feedback.esp_event_record(
        event_id=event.event_id,
        esp_name=esp_name,
        event_type=event.event_type,
        recipient=event.recipient,
        message_id=event.message_id,
        timestamp=event.timestamp,
        reject_reason=event.reject_reason,
        description=event.description,
        bounce_type=feedback.esp_bounce_type(esp_name=esp_name, esp_event=event.esp_event),
    )
