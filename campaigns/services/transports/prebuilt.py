"""Django's own mail backends: prebuilt MIME bytes, marked sent at SMTP's final "."."""

from collections.abc import Iterable

from campaigns.mime import MailHeaders, PrebuiltEmail, message_id
from campaigns.services.transports.errors import ClaimLost, send_error
from campaigns.services.transports.ledger import ClaimedDelivery, DeliveryLedger
from campaigns.services.transports.outcome import record_outcome, send_and_record, skip_erased
from campaigns.services.transports.recipients import BatchContext
from newsletter_site.mail import person_name


def send_prebuilt(batch: BatchContext, deliveries: Iterable[ClaimedDelivery], mail_connection) -> None:
    ledger = batch.ledger
    commit_hook = getattr(mail_connection, "supports_commit_hook", False)
    messages = _prebuilt_messages(batch, deliveries, commit_hook=commit_hook)
    if commit_hook and getattr(mail_connection, "supports_stream", False):

        def report(message: PrebuiltEmail, error: BaseException | None) -> bool:
            return record_outcome(ledger, message, message.delivery, None if error is None else send_error(error))

        try:
            mail_connection.send_stream(messages, report)
        except ClaimLost:
            ledger.stopped = True
        finally:
            ledger.end_manual_commit()
        return
    for message in messages:
        if not send_and_record(ledger, mail_connection, message, message.delivery, esp_message_id=message.message_id):
            return


def _prebuilt_messages(batch: BatchContext, deliveries: Iterable[ClaimedDelivery], *, commit_hook: bool):
    ledger = batch.ledger
    campaign = batch.campaign
    domain = campaign.from_email.rpartition("@")[2] or "localhost"
    for delivery in deliveries:
        if not ledger.keep_going():
            return
        if skip_erased(batch, delivery):
            continue
        recipient, list_unsubscribe = batch.recipient(delivery)
        mid = message_id(campaign_id=campaign.pk, delivery_id=delivery.pk, domain=domain)
        data = batch.skeleton_for(delivery).build(
            recipient,
            MailHeaders(
                to=recipient.email,
                to_name=person_name(recipient.first_name, recipient.last_name),
                message_id=mid,
                list_unsubscribe=list_unsubscribe,
                delivery_id=delivery.pk,
            ),
        )
        message = PrebuiltEmail(from_email=campaign.from_email, to=recipient.email, data=data)
        message.delivery = delivery
        message.message_id = mid
        if commit_hook:
            message.before_final_dot = final_dot_hook(ledger, message, delivery)
        ledger.wait_for_rate_slot()
        yield message


def final_dot_hook(ledger: DeliveryLedger, message, delivery: ClaimedDelivery):
    """``before_final_dot`` for ``newsletter_site.smtp_backend``: the ledger records "sent" at the
    server's commit point (also used by transactional mail, with its own ledger)."""

    def before_final_dot():
        # No message id is stored: for SMTP it is derived from the ids (campaigns.mime.message_id).
        after_final_dot = ledger.sent_at_final_dot(delivery, esp_message_id="")
        message.committed = True  # or will be, by the ledger, once the "." has left
        return after_final_dot

    return before_final_dot
