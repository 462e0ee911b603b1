"""Campaign mail as bytes, with the MIME work done once per campaign.

Building every message with ``EmailMultiAlternatives`` costs about a millisecond, most of it
in the ``email`` package re-encoding the same 15 KB of HTML for every recipient. A
``MessageSkeleton`` encodes the static header block and every static segment of the text and
HTML parts once (quoted-printable); per recipient it encodes only the slot values (names,
links, tokens) and joins the pieces. Quoted-printable allows that: a soft line break ("=" at
the end of a line) decodes to nothing, so independently encoded pieces can be joined with one.
"""

import binascii
import copy
import re
import secrets
import time
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

from django.core.mail import EmailMessage
from django.core.mail.message import sanitize_address
from django.utils import timezone

from campaigns.rendering import CompiledCampaign, RecipientContext
from campaigns.rendering.slots import MAX_CACHED_VARIANTS, SlotTemplate
from newsletter_site.mail import (
    DISPLAY_NAME_MAX_LENGTH,
    LIST_UNSUBSCRIBE_POST,
    Sender,
    header_text,
    mailbox,
    subject_text,
)

SOFT_BREAK = b"=\r\n"
_NEWLINES = re.compile(rb"\r?\n")


def qp_encode(text: str) -> bytes:
    """Quoted-printable with CRLF line ends, lines at most 76 characters, no line starting with "."

    A "." at the start of a line would need SMTP's dot-stuffing, a regular-expression pass over
    the whole message per recipient; written as "=2E" it needs none.
    """
    encoded = binascii.b2a_qp(text.encode(), istext=True)
    if b"\n" in encoded:
        encoded = _NEWLINES.sub(b"\r\n", encoded)
    if encoded.startswith(b".") or b"\n." in encoded:
        encoded = b"\r\n".join(_dot_safe_lines(encoded.split(b"\r\n")))
    return encoded


def _dot_safe_lines(lines: list[bytes]):
    for line in lines:
        while line.startswith(b"."):
            line = b"=2E" + line[1:]
            if len(line) <= 76:
                break
            cut = 75
            while b"=" in line[cut - 2 : cut]:  # never split an =XX escape
                cut -= 1
            yield line[:cut] + b"="
            line = line[cut:]
        yield line


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


class _EncodedTemplate:
    """A rendering template whose static segments are already quoted-printable."""

    def __init__(self, template: SlotTemplate):
        self.segments = [qp_encode(_crlf(segment)) for segment in template.segments]
        self.holes = template.holes

    def fill(self, values: list[str]) -> bytes:
        out = self.segments.copy()
        encoded: dict[str, bytes] = {}  # a message repeats values (a link in headline, image and button)
        for index, slot in self.holes:
            value = values[slot]
            piece = encoded.get(value)
            if piece is None:
                piece = encoded[value] = _qp_value(value)
            out[index] = piece
        return SOFT_BREAK.join(part for part in out if part)


def _qp_value(value: str) -> bytes:
    # Most values (names, tracking URLs) are short printable ASCII without "=": quoted-printable
    # leaves those unchanged, so the encoder is not needed.
    if (
        len(value) <= 76
        and value.isascii()
        and value.isprintable()
        and "=" not in value
        and not value.startswith(".")
        and not value.endswith((" ", "\t"))
    ):
        return value.encode("ascii")
    return qp_encode(_crlf(value) if "\n" in value else value)


@dataclass(frozen=True, slots=True)
class MailHeaders:
    """What differs per recipient in the header block."""

    to: str
    message_id: str
    list_unsubscribe: str
    delivery_id: int | None = None
    to_name: str = ""


class MessageSkeleton:
    """Everything about a campaign's messages that is the same for every recipient."""

    def __init__(
        self,
        compiled: CompiledCampaign,
        *,
        from_header: str,
        reply_to: str = "",
        language: str = "",
        campaign_id: int | None = None,
        list_id: str = "",
    ):
        self.compiled = compiled
        self.campaign_id = campaign_id
        self.from_email = from_header
        # "=" never occurs in quoted-printable text unencoded, so no part can contain the boundary.
        self.boundary = f"==kanal{secrets.token_hex(12)}=="
        self.html = _EncodedTemplate(compiled.html_template)
        self.text = _EncodedTemplate(compiled.text_template)
        self._subjects: dict[str, str] = {}
        sender = Sender.of(from_header, reply_to)
        lines = [f"From: {_address_header(sender.from_email)}"]
        if sender.reply_to:
            lines.append(f"Reply-To: {_address_header(sender.reply_to[0])}")
        lines += [
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative;\r\n boundary="{self.boundary}"',
            f"List-Unsubscribe-Post: {LIST_UNSUBSCRIBE_POST}",
            "Precedence: bulk",
            "Auto-Submitted: auto-generated",
        ]
        if list_id:
            lines.append(f"List-Id: {_header_value(header_text(list_id))}")
        if language:
            lines.append(f"Content-Language: {header_text(language)}")
        if campaign_id is not None:
            lines.append(f"X-Kanal-Campaign: {campaign_id}")
        self._static_headers = ("\r\n".join(lines) + "\r\n").encode()
        part_header = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        self._text_opening = f"\r\n--{self.boundary}\r\n{part_header.format('plain')}".encode()
        self._html_opening = f"\r\n--{self.boundary}\r\n{part_header.format('html')}".encode()
        self._closing = f"\r\n--{self.boundary}--\r\n".encode()
        self._date_second = -1
        self._date_header = b""
        self._variants: dict[frozenset[int], MessageSkeleton] = {}

    def variant(self, visible: frozenset[int]) -> "MessageSkeleton":
        """The skeleton of ``CompiledCampaign.variant(visible)``: same headers, other bodies.

        Callers pass the same frozenset objects again and again (one per set of conditional
        articles in a batch), so after the first message of a set this is one dict lookup.
        """
        skeleton = self._variants.get(visible)
        if skeleton is None:
            compiled = self.compiled.variant(visible)
            if compiled is self.compiled:
                skeleton = self
            else:
                skeleton = copy.copy(self)
                skeleton.compiled = compiled
                skeleton.html = _EncodedTemplate(compiled.html_template)
                skeleton.text = _EncodedTemplate(compiled.text_template)
                skeleton._variants = {}
            if len(self._variants) >= MAX_CACHED_VARIANTS:
                del self._variants[next(iter(self._variants))]
            self._variants[visible] = skeleton
        return skeleton

    def build(self, recipient: RecipientContext, headers: MailHeaders) -> bytes:
        html_values, text_values = self.compiled.slot_values(recipient)
        lines = [
            f"To: {_to_header(headers.to, headers.to_name)}",
            f"Subject: {self._subject(recipient)}",
            f"Message-ID: {headers.message_id}",
            "List-Unsubscribe: " + header_text(headers.list_unsubscribe).replace(">, <", ">,\r\n <"),
        ]
        if headers.delivery_id is not None:
            lines.append(f"X-Kanal-Delivery: {headers.delivery_id}")
        return b"".join(
            (
                self._static_headers,
                self._date(),
                "\r\n".join(lines).encode(),
                b"\r\n",
                self._text_opening,
                self.text.fill(text_values),
                self._html_opening,
                self.html.fill(html_values),
                self._closing,
            )
        )

    def _subject(self, recipient: RecipientContext) -> str:
        from campaigns import merge_tags

        subject = subject_text(merge_tags.render_plain(self.compiled.subject_parts, recipient))
        encoded = self._subjects.get(subject)
        if encoded is None:
            if len(self._subjects) > 10_000:
                self._subjects.clear()
            encoded = self._subjects[subject] = _header_value(subject, name="Subject")
        return encoded

    def _date(self) -> bytes:
        now = int(time.time())
        if now != self._date_second:
            self._date_second = now
            self._date_header = f"Date: {format_datetime(timezone.localtime(), usegmt=False)}\r\n".encode()
        return self._date_header


def _header_value(value: str, *, name: str = "") -> str:
    """A value cleaned by ``newsletter_site.mail``, RFC 2047-encoded and folded where needed."""
    if value.isascii() and len(value) + len(name) < 76:
        return value
    return Header(value, "utf-8", header_name=name or None).encode(linesep="\r\n")


def _address_header(value: str) -> str:
    """A mailbox from ``newsletter_site.mail.mailbox`` as MIME wants it: a non-ASCII name as one
    RFC 2047 word (never folded: a fold inside an address header could split the address)."""
    if value.isascii():
        return value
    name, address = parseaddr(value)
    return formataddr((name, sanitize_address(address, "utf-8")), charset="utf-8")


def _to_header(address: str, name: str) -> str:
    """``_address_header(mailbox(address, name))`` without the parse in between (per recipient)."""
    if not name or name.isascii():
        return _address_header(mailbox(address, name))
    name = header_text(name, max_length=DISPLAY_NAME_MAX_LENGTH)
    return formataddr((name, address if address.isascii() else sanitize_address(address, "utf-8")), charset="utf-8")


def _envelope_address(address: str) -> str:
    if address.isascii() and "<" not in address and "\n" not in address and "\r" not in address:
        return address
    return sanitize_address(address, "utf-8")


def message_id(*, campaign_id: int, delivery_id: int, domain: str) -> str:
    """The same id every time a delivery is (re)sent, so mailbox providers can fold a duplicate."""
    return f"<kanal.{campaign_id}.{delivery_id}@{domain}>"


class _PrebuiltMime:
    def __init__(self, data: bytes):
        self.data = data

    def as_bytes(self, unixfrom=False, linesep="\n"):
        return self.data

    def as_string(self, unixfrom=False, linesep="\n"):
        return self.data.decode("ascii", errors="replace")

    def __getitem__(self, name):
        from email import message_from_bytes

        return message_from_bytes(self.data)[name]


class PrebuiltEmail(EmailMessage):
    """A finished message for Django's mail backends (SMTP, file, console); ``message()`` costs nothing."""

    def __init__(self, *, from_email: str, to: str, data: bytes):
        super().__init__(from_email=from_email, to=[to])
        self.data = data

    dot_safe = True  # no line starts with "." (see qp_encode)
    # Set by the sender: its delivery row, the "sent" hook for newsletter_site.smtp_backend, and
    # whether that hook has committed the row.
    delivery = None
    message_id = ""
    before_final_dot = None
    committed = False

    def envelope(self) -> tuple[str, list[str]]:
        """MAIL FROM and RCPT TO addresses, sanitised only where Django's parser has work to do."""
        return _envelope_address(self.from_email), [_envelope_address(address) for address in self.to]

    def message(self, *, policy=None):
        return _PrebuiltMime(self.data)
