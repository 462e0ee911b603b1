"""After one send: the row moves on as the (sorted) outcome says; shared by every transport."""

from campaigns.services.transports.errors import ClaimLost, TransientSendError, send_one
from campaigns.services.transports.ledger import ClaimedDelivery
from campaigns.services.transports.recipients import BatchContext


def skip_erased(batch: BatchContext, delivery: ClaimedDelivery) -> bool:
    if delivery.subscriber is None:  # erased after the snapshot
        batch.ledger.mark_failed(delivery, "subscriber erased")
        return True
    return False


def send_and_record(ledger, mail_connection, message, delivery, *, esp_message_id="") -> bool:
    """Send one message and move its row on; False stops the batch."""
    try:
        try:
            send_one(mail_connection, message)
        finally:
            ledger.end_manual_commit()
    except Exception as error:
        return record_outcome(ledger, message, delivery, error)
    status = getattr(message, "anymail_status", None)
    if status is not None and status.message_id is not None:
        esp_message_id = str(status.message_id)
    return record_outcome(ledger, message, delivery, None, esp_message_id=esp_message_id)


def record_outcome(ledger, message, delivery, error: BaseException | None, *, esp_message_id="") -> bool:
    """Move the row on after one send (``error`` as ``send_error`` sorted it); False stops the batch."""
    if isinstance(error, ClaimLost):
        ledger.stopped = True
        return False
    committed = getattr(message, "committed", False)
    if error is not None:
        if committed:
            ledger.after_commit_failure(delivery, error)
            return not isinstance(error, TransientSendError)
        if isinstance(error, TransientSendError):
            ledger.retry_later(delivery, str(error))
            return False
        ledger.mark_failed(delivery, repr(error))  # a permanent refusal of this one message
        return True
    if committed:
        ledger.sent += 1
        return True
    try:
        ledger.mark_sent(delivery, esp_message_id=esp_message_id)
    except ClaimLost:
        ledger.stopped = True
        return False
    return True
