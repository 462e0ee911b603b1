"""What a mail backend's exceptions mean for a delivery: retry later, or refused for good."""

import smtplib

from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused


class TransientSendError(Exception):
    """The ESP or SMTP server did not take the message this time; the batch stops and retries later."""


class ClaimLost(Exception):
    """This worker's claim on a delivery was taken back (swept as stale); it must not send it."""


def send_one(mail_connection, message) -> None:
    """Send through a Django mail backend, sorting its errors into transient and permanent."""
    try:
        count = mail_connection.send_messages([message])
    except Exception as error:
        meaning = send_error(error)
        if meaning is error:
            raise
        raise meaning from error
    if not count:
        raise TransientSendError("the mail backend accepted no message")


def send_error(error: BaseException) -> BaseException:
    """What a mail backend's exception means: a ``TransientSendError`` (retry later, its cause the
    original) or the error itself (this message is refused for good, or the bug is ours)."""
    meaning = None
    if isinstance(error, (AnymailRecipientsRefused, ClaimLost, TransientSendError)):
        return error
    if isinstance(error, AnymailAPIError):
        status_code = getattr(error, "status_code", None)
        if status_code is None or status_code == 429 or status_code >= 500:
            summary = error.args[0] if error.args else type(error).__name__
            meaning = TransientSendError(f"{summary} (HTTP {status_code})")
    elif isinstance(error, smtplib.SMTPRecipientsRefused):
        if error.recipients and all(400 <= code < 500 for code, _ in error.recipients.values()):
            meaning = TransientSendError(f"recipients refused for now: {error.recipients!r}")
    elif isinstance(error, smtplib.SMTPResponseException):
        if 400 <= error.smtp_code < 500:
            meaning = TransientSendError(f"{error.smtp_code} {error.smtp_error!r}")
    elif isinstance(error, (smtplib.SMTPException, OSError)):
        meaning = TransientSendError(repr(error))
    if meaning is None:
        return error
    meaning.__cause__ = error
    return meaning
