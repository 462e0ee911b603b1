"""What one raw mail that came back to Kanal is: a DSN, an ARF complaint, a mailto unsubscribe, an
auto-reply, or something else. Pure functions over the stdlib ``email`` package; nothing here
touches the database."""

import enum
import hashlib
import re
from dataclasses import dataclass
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parseaddr

# campaigns.mime.message_id: <kanal.<campaign id>.<delivery id>@domain>
KANAL_MESSAGE_ID = re.compile(r"<?kanal\.(\d+)\.(\d+)@[^>\s]+>?", re.IGNORECASE)
STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# subscribers.links.MailLinks: "unsubscribe <token>" in the subject of the List-Unsubscribe mailto.
UNSUBSCRIBE_TOKEN = re.compile(r"\bunsubscribe(?:%20|\s)+([A-Za-z0-9_.:=-]{10,200})", re.IGNORECASE)
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|abwesenheitsnotiz|automatische antwort|automatic reply|auto(matic)?[- ]?reply"
    r"|autoreply|abwesend|absence|r[ée]ponse automatique|vacation)\b",
    re.IGNORECASE,
)
AUTO_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk"})


class Kind(enum.StrEnum):
    DSN = "dsn"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    AUTO_REPLY = "auto_reply"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Failure:
    """One recipient a DSN reports on."""

    recipient: str
    action: str  # "failed" or "delayed" (RFC 3464); "delivered", "relayed", "expanded" are dropped
    status: str  # "5.1.1"
    diagnostic: str = ""

    @property
    def is_hard(self) -> bool:
        """A permanent failure that says the address does not work. Policy rejections (5.7.x: spam,
        blocklists, authentication) say more about the sender than the address, and a full mailbox
        (5.2.2) empties again: both count as soft."""
        return (
            self.action == "failed"
            and self.status.startswith("5.")
            and not self.status.startswith("5.7.")
            and self.status != "5.2.2"
        )

    @property
    def is_soft(self) -> bool:
        return self.action == "failed" and not self.is_hard


@dataclass(frozen=True)
class Parsed:
    kind: Kind
    message_id: str  # of the mail that came back, "" when it has none
    original_message_id: str = ""  # of Kanal's mail it is about
    failures: tuple[Failure, ...] = ()
    complaint_recipient: str = ""
    feedback_type: str = ""
    unsubscribe_token: str = ""
    reason: str = ""  # why an auto-reply was recognised, or what an unknown mail lacked

    @property
    def delivery_ref(self) -> tuple[int, int] | None:
        """(campaign id, delivery id) of Kanal's Message-ID, if the mail names one."""
        match = KANAL_MESSAGE_ID.fullmatch(self.original_message_id.strip())
        return (int(match[1]), int(match[2])) if match else None


def event_id(raw: bytes, parsed: Parsed) -> str:
    """The id under which a mail is handled once: its Message-ID, or a hash of its bytes."""
    if parsed.message_id and len(parsed.message_id) <= 240:
        return "mid:" + parsed.message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse(raw: bytes) -> Parsed:
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    message_id = _header(message, "Message-ID")
    if message.get_content_type() == "multipart/report":
        report_type = (message.get_param("report-type") or "").lower()
        if report_type == "delivery-status":
            return _dsn(message, message_id)
        if report_type == "feedback-report":
            return _arf(message, message_id)
    reason = auto_reply_reason(message)
    if reason:
        return Parsed(Kind.AUTO_REPLY, message_id, reason=reason)
    token = _unsubscribe_token(message)
    if token:
        return Parsed(Kind.UNSUBSCRIBE, message_id, unsubscribe_token=token)
    return Parsed(Kind.UNKNOWN, message_id, reason=message.get_content_type())


def auto_reply_reason(message: Message) -> str:
    """Why a mail is an automatic answer (RFC 3834 and the headers and subjects in common use), or ""."""
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted != "no":
        return "Auto-Submitted: " + auto_submitted
    for name in ("X-Autoreply", "X-Autorespond"):
        if message.get(name) is not None:
            return name
    precedence = _header(message, "Precedence").lower()
    if precedence in AUTO_PRECEDENCE:
        return "Precedence: " + precedence
    subject = _header(message, "Subject")
    if AUTO_REPLY_SUBJECT.search(subject):
        return "Subject: " + subject[:100]
    return ""


def _header(message: Message, name: str) -> str:
    value = message.get(name)
    if value is None:
        return ""
    try:
        value = str(make_header(decode_header(str(value))))
    except (ValueError, LookupError):
        value = str(value)
    return " ".join(value.split())


def _address(value: str) -> str:
    """The address of an RFC 3464 / 5965 field such as "rfc822; Reader@Example.org"."""
    _type, _semicolon, address = value.rpartition(";")
    address = parseaddr(address.strip())[1] or address.strip().strip("<>")
    return address.lower()


def _subparts(message: Message, content_type: str) -> list[Message]:
    return [part for part in message.walk() if part.get_content_type() == content_type]


def _original_headers(message: Message) -> Message | None:
    """The headers of the returned message (message/rfc822 or text/rfc822-headers), if any."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
            if isinstance(payload, str):
                return HeaderParser().parsestr(payload)
        if content_type in ("text/rfc822-headers", "message/global-headers"):
            text = part.get_payload(decode=True) or b""
            return HeaderParser().parsestr(text.decode("utf-8", "replace"))
    return None


def _original_message_id(message: Message) -> str:
    original = _original_headers(message)
    if original is None:
        return ""
    return _header(original, "Message-ID")


def _field_blocks(part: Message) -> list[Message]:
    """The header blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = part.get_payload(decode=True) or b""
    return [HeaderParser().parsestr(block) for block in re.split(r"\r?\n\r?\n", text.decode("utf-8", "replace"))]


def _dsn(message: Message, message_id: str) -> Parsed:
    failures = []
    for part in _subparts(message, "message/delivery-status"):
        for block in _field_blocks(part)[1:]:
            action = _header(block, "Action").lower()
            if action not in ("failed", "delayed"):
                continue
            recipient = _address(_header(block, "Final-Recipient") or _header(block, "Original-Recipient"))
            diagnostic = _header(block, "Diagnostic-Code")
            status = STATUS_CODE.search(_header(block, "Status")) or STATUS_CODE.search(diagnostic)
            if not recipient:
                continue
            code = status.group(0) if status else ("4.0.0" if action == "delayed" else "5.0.0")
            failures.append(Failure(recipient=recipient, action=action, status=code, diagnostic=diagnostic[:500]))
    return Parsed(Kind.DSN, message_id, original_message_id=_original_message_id(message), failures=tuple(failures))


def _arf(message: Message, message_id: str) -> Parsed:
    fields = Message()
    for part in _subparts(message, "message/feedback-report"):
        for block in _field_blocks(part):
            for name, value in block.items():
                fields[name] = value
    original = _original_headers(message)
    recipient = _address(_header(fields, "Original-Rcpt-To"))
    if not recipient and original is not None:
        addresses = getaddresses([_header(original, "To")])
        recipient = addresses[0][1].lower() if addresses else ""
    return Parsed(
        Kind.COMPLAINT,
        message_id,
        original_message_id=_original_message_id(message),
        complaint_recipient=recipient,
        feedback_type=_header(fields, "Feedback-Type").lower(),
    )


def _unsubscribe_token(message: Message) -> str:
    match = UNSUBSCRIBE_TOKEN.search(_header(message, "Subject"))
    if match is None:
        body = message
        if message.is_multipart():
            plain = _subparts(message, "text/plain")
            body = plain[0] if plain else None
        if body is not None and not body.is_multipart():
            text = (body.get_payload(decode=True) or b"")[:10_000].decode("utf-8", "replace")
            match = UNSUBSCRIBE_TOKEN.search(text)
    return match[1] if match else ""
