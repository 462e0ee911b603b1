"""Anymail's inbound webhooks (``/anymail/<esp>/inbound/``, mounted with the tracking webhooks in
newsletter_site.urls, behind ANYMAIL_WEBHOOK_SECRET) hand each mail to the same service as the
IMAP mailbox."""

from anymail.signals import inbound
from django.dispatch import receiver

from inbound.services import inbound_message_handle


@receiver(inbound, dispatch_uid="inbound.anymail_inbound")
def anymail_inbound_received(sender, event, esp_name, **kwargs):
    """A few indexed queries before the webhook answers: an error makes the ESP post the mail again,
    and its event id makes that repeat harmless."""
    inbound_message_handle(raw=event.message.as_bytes(), source=f"anymail:{esp_name}")
