"""Reading the inbound mailbox over IMAP (stdlib imaplib) or POP3 (stdlib poplib).

Each mail is handed to ``handle`` (which applies it and commits) and only then let go of: IMAP marks
it ``\\Seen``, POP3 deletes it (a ``DELE`` takes effect at ``QUIT``). A crash in between hands the
same mail over again on the next poll; the handler's once-only event id makes that harmless. A mail
whose handling fails stays (unseen, or undeleted) and is tried again.
"""

import contextlib
import imaplib
import logging
import poplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30
# scheme: (protocol, TLS from the first byte, default port)
SCHEMES = {
    "imap": ("imap", False, 143),
    "imaps": ("imap", True, 993),
    "pop3": ("pop3", False, 110),
    "pop3s": ("pop3", True, 995),
}
# What a POP3 read asks of the socket at a time: a longer line comes in pieces.
READ_CHUNK = 64 * 1024


@dataclass(frozen=True)
class MailboxAddress:
    protocol: str  # "imap" or "pop3"
    secure: bool
    host: str
    port: int
    user: str
    password: str
    mailbox: str


def mailbox_address(url: str) -> MailboxAddress:
    """imaps://user:password@host:993/INBOX, pop3s://user:password@host:995, or imap:// and pop3://
    (unencrypted). An IMAP mailbox defaults to INBOX; POP3 has only the one mailbox."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise ValueError(
            "KANAL_INBOUND_MAILBOX_URL must look like imaps://user:password@host:993/INBOX "
            "or pop3s://user:password@host:995"
        )
    protocol, secure, default_port = SCHEMES[parts.scheme]
    mailbox = unquote(parts.path.lstrip("/"))
    if protocol == "pop3" and mailbox not in ("", "INBOX"):
        raise ValueError("A POP3 mailbox has no folders: leave the path of KANAL_INBOUND_MAILBOX_URL empty")
    return MailboxAddress(
        protocol=protocol,
        secure=secure,
        host=parts.hostname,
        port=parts.port or default_port,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        mailbox=mailbox or "INBOX",
    )


def mailbox_poll(*, url: str, handle: Callable[[bytes], object], max_bytes: int) -> int:
    """Hand the first ``max_bytes`` of each waiting mail to ``handle``, then let go of it (IMAP: mark
    it seen; POP3: delete it). Returns how many mails were handled."""
    address = mailbox_address(url)
    poll = imap_poll if address.protocol == "imap" else pop3_poll
    return poll(address=address, handle=handle, max_bytes=max_bytes)


def imap_poll(*, address: MailboxAddress, handle: Callable[[bytes], object], max_bytes: int) -> int:
    """Every unseen mail, read with a partial fetch, then marked ``\\Seen``."""
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
            if not _handled(handle, raw, f"IMAP UID {uid.decode()}"):
                continue
            client.uid("STORE", uid, "+FLAGS", r"(\Seen)")
            handled += 1
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return handled


def pop3_poll(*, address: MailboxAddress, handle: Callable[[bytes], object], max_bytes: int) -> int:
    """Every mail in the maildrop, each followed by ``DELE`` once handled; the deletions take effect
    at ``QUIT``. A session that ends without ``QUIT`` (a crash, a dropped connection) deletes
    nothing, so those mails are handed over again next time, which their event ids make harmless."""
    if address.secure:
        client = poplib.POP3_SSL(
            address.host, address.port, context=ssl.create_default_context(), timeout=TIMEOUT_SECONDS
        )
    else:
        client = poplib.POP3(address.host, address.port, timeout=TIMEOUT_SECONDS)
    handled = 0
    try:
        client.user(address.user)
        client.pass_(address.password)
        _response, listing, _octets = client.list()
        for entry in listing:
            number = int(entry.split()[0])
            raw = _pop3_retrieve(client, number=number, max_bytes=max_bytes)
            if not _handled(handle, raw, f"POP3 message {number}"):
                continue
            client.dele(number)
            handled += 1
        client.quit()
    except BaseException:
        client.close()  # no QUIT: nothing is deleted
        raise
    return handled


def _pop3_retrieve(client: poplib.POP3, *, number: int, max_bytes: int) -> bytes:
    """``RETR`` keeping only the first ``max_bytes`` (POP3 has no partial fetch): the rest is read
    and dropped, so neither a huge mail nor a very long line is held in memory (``poplib``'s
    ``retr`` keeps all of it, and refuses lines over 2,048 bytes)."""
    client._putcmd(f"RETR {number}")  # poplib has no streaming RETR; its command and status helpers serve
    client._getresp()
    kept, size, line_start = [], 0, True
    while True:
        piece = client.file.readline(READ_CHUNK)
        if not piece:
            raise poplib.error_proto("-ERR connection closed during RETR")
        if line_start and piece in (b".\r\n", b".\n"):
            break
        if line_start and piece.startswith(b".."):
            piece = piece[1:]  # RFC 1939 byte-stuffing
        line_start = piece.endswith(b"\n")
        if size < max_bytes:
            piece = piece[: max_bytes - size]
            kept.append(piece)
            size += len(piece)
    return b"".join(kept)


def _handled(handle: Callable[[bytes], object], raw: bytes, name: str) -> bool:
    try:
        handle(raw)
    except Exception:
        logger.exception("Inbound mail %s could not be handled; it stays in the mailbox", name)
        return False
    return True


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
