"""One ``AnymailMessage`` per recipient through an ESP's API."""

from collections.abc import Iterable

from anymail.message import AnymailMessage

from campaigns import throttle
from campaigns.services.transports.ledger import ClaimedDelivery
from campaigns.services.transports.outcome import send_and_record, skip_erased
from campaigns.services.transports.recipients import BatchContext
from subscribers.links import LIST_UNSUBSCRIBE_POST


def anymail_message(batch: BatchContext, delivery: ClaimedDelivery) -> AnymailMessage:
    campaign = batch.campaign
    recipient, list_unsubscribe = batch.recipient(delivery)
    rendered = batch.compiled.render(recipient)
    message = AnymailMessage(
        subject=rendered.subject,
        body=rendered.text,
        from_email=campaign.from_header,
        to=[recipient.email],
        reply_to=[campaign.reply_to] if campaign.reply_to else None,
        headers={"List-Unsubscribe": list_unsubscribe, "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST},
        metadata={"kind": "campaign", "campaign_id": str(campaign.pk), "delivery_id": str(delivery.pk)},
        tags=["campaign"],
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def send_anymail_each(batch: BatchContext, deliveries: Iterable[ClaimedDelivery], mail_connection) -> None:
    for delivery in deliveries:
        if not batch.ledger.keep_going():
            return
        if skip_erased(batch, delivery):
            continue
        message = anymail_message(batch, delivery)
        throttle.wait_for_slot()
        if not send_and_record(batch.ledger, mail_connection, message, delivery):
            return
