from celery import shared_task
from django.conf import settings


@shared_task(ignore_result=True)
def poll_imap() -> int:
    """Beat, every minute: the mailbox in KANAL_INBOUND_IMAP_URL, if one is set. Returns how many mails it handled."""
    from inbound import mailbox
    from inbound.services import MAX_BYTES, inbound_message_handle

    if not settings.KANAL_INBOUND_IMAP_URL:
        return 0
    return mailbox.imap_poll(
        url=settings.KANAL_INBOUND_IMAP_URL,
        handle=lambda raw: inbound_message_handle(raw=raw, source="imap"),
        max_bytes=MAX_BYTES,
    )
