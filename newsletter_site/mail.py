"""Every mail Kanal sends passes here: header hygiene, List-Unsubscribe, metadata and tags.

Confirmation mails, test sends and the per-recipient Anymail transport build their message with
``message()``, the ESP batch transport with ``batch_message()``. The SMTP transport writes its
header block itself (``campaigns.mime.MessageSkeleton``, for speed) but takes every value through
the same functions: ``Sender`` once per campaign, ``subject_text`` and ``mailbox`` per recipient,
``unsubscribe_headers`` for the List-Unsubscribe pair.

Names and subjects come from strangers (sign-up forms, imports) and from staff; a line break in
one must neither fail a delivery (Django refuses such a header) nor start a header of its own.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr

from anymail.message import AnymailMessage

SUBJECT_MAX_LENGTH = 200
DISPLAY_NAME_MAX_LENGTH = 120
# Control characters and everything else Python's str.splitlines() breaks on.
_BREAKS = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]+")
# A display name of letters, digits, spaces and RFC 5322 atext needs no quoting (most names).
_PLAIN_NAME = re.compile(r"[\w!#$%&'*+\-/=?^`{|}~ ]+")


def header_text(value: str, *, max_length: int | None = None) -> str:
    """``value`` on one line (every line break and tab a space), cut to ``max_length`` with "…"."""
    text = _BREAKS.sub(" ", value).strip() if not value.isprintable() else value.strip()
    if max_length is not None and len(text) > max_length:
        text = text[: max_length - 1].rstrip() + "…"
    return text


def subject_text(value: str) -> str:
    return header_text(value, max_length=SUBJECT_MAX_LENGTH)


def mailbox(address: str, name: str = "") -> str:
    """``Name <address>``, the name cleaned and quoted where RFC 5322 needs it, or the bare address.

    Non-ASCII names stay readable here; the transport encodes them (RFC 2047) when it writes MIME.
    """
    address = header_text(address)
    name = header_text(name, max_length=DISPLAY_NAME_MAX_LENGTH)
    username, at, domain = address.rpartition("@")
    if not name or not at:
        return address
    if _PLAIN_NAME.fullmatch(name):
        return f"{name} <{address}>"
    return str(Address(display_name=name, username=username, domain=domain))


# RFC 8058: the value of List-Unsubscribe-Post that makes the https target a one-click POST.
LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"


def person_name(first_name: str, last_name: str) -> str:
    return " ".join(part for part in (first_name, last_name) if part)


def unsubscribe_headers(list_unsubscribe: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe, for a header value built by ``subscribers.links.MailLinks``."""
    return {"List-Unsubscribe": header_text(list_unsubscribe), "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST}


@dataclass(frozen=True, slots=True)
class Sender:
    """From and Reply-To, cleaned once: per campaign for campaign mail, per message otherwise."""

    from_email: str
    reply_to: tuple[str, ...] = ()

    @classmethod
    def of(cls, from_header: str, reply_to: str = "") -> "Sender":
        return cls(
            from_email=_configured_mailbox(from_header),
            reply_to=(_configured_mailbox(reply_to),) if reply_to else (),
        )


def _configured_mailbox(header: str) -> str:
    """A configured ``Name <address>`` (campaign sender, DEFAULT_FROM_EMAIL) rewritten by ``mailbox``."""
    name, address = parseaddr(header_text(header))
    return mailbox(address, name) if address else header_text(header)


def message(
    *,
    sender: Sender,
    to: str,
    to_name: str = "",
    subject: str,
    text: str,
    html: str = "",
    kind: str,
    metadata: Mapping[str, str] | None = None,
    tags: Iterable[str] = (),
    list_unsubscribe: str = "",
    track: bool | None = None,
) -> AnymailMessage:
    """One mail to one person. ``kind`` goes into the metadata (webhooks map events back by it);
    ``track=False`` asks the ESP not to rewrite links or add a pixel (confirmation, test sends)."""
    mail = AnymailMessage(
        subject=subject_text(subject),
        body=text,
        from_email=sender.from_email,
        to=[mailbox(to, to_name)],
        reply_to=list(sender.reply_to) or None,
        headers=unsubscribe_headers(list_unsubscribe) if list_unsubscribe else None,
        metadata={"kind": kind, **(metadata or {})},
        tags=list(tags),
    )
    if track is not None:
        mail.track_clicks = mail.track_opens = track
    if html:
        mail.attach_alternative(html, "text/html")
    return mail


@dataclass(frozen=True, slots=True)
class BatchRecipient:
    """One recipient of an ESP batch: the ESP fills ``merge_data`` into the shared subject and body."""

    email: str
    name: str
    merge_data: Mapping[str, str]
    list_unsubscribe: str
    metadata: Mapping[str, str]


def batch_message(
    *,
    sender: Sender,
    recipients: list[BatchRecipient],
    subject: str,
    text: str,
    html: str,
    kind: str,
    metadata: Mapping[str, str] | None = None,
    tags: Iterable[str] = (),
) -> AnymailMessage:
    """One ESP API call for many recipients (Anymail's batch send). Merge values that land in a
    header are the caller's to clean (``subject_text``); the list headers are cleaned here."""
    mail = AnymailMessage(
        subject=subject_text(subject),
        body=text,
        from_email=sender.from_email,
        to=[mailbox(recipient.email, recipient.name) for recipient in recipients],
        reply_to=list(sender.reply_to) or None,
        headers={"List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST},
        merge_data={recipient.email: recipient.merge_data for recipient in recipients},
        merge_headers={
            recipient.email: {"List-Unsubscribe": header_text(recipient.list_unsubscribe)} for recipient in recipients
        },
        merge_metadata={recipient.email: recipient.metadata for recipient in recipients},
        metadata={"kind": kind, **(metadata or {})},
        tags=list(tags),
    )
    mail.attach_alternative(html, "text/html")
    return mail
