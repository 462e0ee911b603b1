"""One ``AnymailMessage`` per recipient through an ESP's API."""

from collections.abc import Iterable

from anymail.message import AnymailMessage

from campaigns.services.transports.ledger import ClaimedDelivery
from campaigns.services.transports.outcome import send_and_record, skip_erased
from campaigns.services.transports.recipients import BatchContext
from newsletter_site import mail


def anymail_message(batch: BatchContext, delivery: ClaimedDelivery) -> AnymailMessage:
    recipient, list_unsubscribe = batch.recipient(delivery)
    rendered = batch.compiled_for(delivery).render(recipient)
    return mail.message(
        sender=batch.sender,
        to=recipient.email,
        to_name=mail.person_name(recipient.first_name, recipient.last_name),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        kind="campaign",
        metadata={"campaign_id": str(batch.campaign.pk), "delivery_id": str(delivery.pk)},
        tags=["campaign"],
        list_unsubscribe=list_unsubscribe,
    )


def send_anymail_each(batch: BatchContext, deliveries: Iterable[ClaimedDelivery], mail_connection) -> None:
    for delivery in deliveries:
        if not batch.ledger.keep_going():
            return
        if skip_erased(batch, delivery):
            continue
        message = anymail_message(batch, delivery)
        batch.ledger.wait_for_rate_slot()
        if not send_and_record(batch.ledger, mail_connection, message, delivery):
            return
