"""Reading an IMAP mailbox (stdlib imaplib): every unseen mail is handed over, then marked seen.

A crash between the two hands the same mail over again on the next poll; the handler's once-only
event id makes that harmless. A mail whose handling fails stays unseen and is tried again.
"""

import contextlib
import imaplib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class ImapAddress:
    secure: bool
    host: str
    port: int
    user: str
    password: str
    mailbox: str


def imap_address(url: str) -> ImapAddress:
    """imaps://user:password@host:993/INBOX or imap://…; the mailbox defaults to INBOX."""
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ValueError("KANAL_INBOUND_IMAP_URL must look like imaps://user:password@host:993/INBOX")
    secure = parts.scheme == "imaps"
    return ImapAddress(
        secure=secure,
        host=parts.hostname,
        port=parts.port or (993 if secure else 143),
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
    )


def imap_poll(*, url: str, handle: Callable[[bytes], object], max_bytes: int) -> int:
    """Hand the first ``max_bytes`` of each unseen mail to ``handle``, then mark it seen. Returns the count."""
    address = imap_address(url)
    if address.secure:
        client = imaplib.IMAP4_SSL(
            address.host, address.port, ssl_context=ssl.create_default_context(), timeout=TIMEOUT_SECONDS
        )
    else:
        client = imaplib.IMAP4(address.host, address.port, timeout=TIMEOUT_SECONDS)
    handled = 0
    try:
        client.login(address.user, address.password)
        client.select(_quoted(address.mailbox))
        _status, found = client.uid("SEARCH", None, "UNSEEN")
        for uid in (found[0] or b"").split():
            _status, data = client.uid("FETCH", uid, f"(BODY.PEEK[]<0.{max_bytes}>)")
            raw = next((item[1] for item in data if isinstance(item, tuple)), None)
            if raw is None:
                continue
            try:
                handle(raw)
            except Exception:
                logger.exception("Inbound mail with IMAP UID %s could not be handled; it stays unseen", uid)
                continue
            client.uid("STORE", uid, "+FLAGS", r"(\Seen)")
            handled += 1
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return handled


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
