from celery import shared_task
from django.conf import settings


@shared_task(ignore_result=True)
def poll_mailbox() -> int:
    """Beat, every minute: the IMAP or POP3 mailbox in KANAL_INBOUND_MAILBOX_URL, if one is set.
    Returns how many mails it handled."""
    from inbound import mailbox
    from inbound.services import MAX_BYTES, inbound_message_handle

    url = settings.KANAL_INBOUND_MAILBOX_URL
    if not url:
        return 0
    source = mailbox.mailbox_address(url).protocol
    return mailbox.mailbox_poll(
        url=url, handle=lambda raw: inbound_message_handle(raw=raw, source=source), max_bytes=MAX_BYTES
    )
