"""Compact signed tokens for the open pixel and click URLs in every mail.

A token is base64url(ids ‖ MAC) without padding: each id is a 48-bit big-endian integer and the
MAC is HMAC-SHA256 truncated to 12 bytes (96 bits). Every purpose has its own key, derived once
from SECRET_KEY, so a token made for one purpose never passes as another:

===================  ==================  =====  ==========================================
purpose              ids                 chars  URL
===================  ==================  =====  ==========================================
open                 delivery            24     ``/t/o/<token>``
anonymous open       campaign            24     ``/t/o/<token>``
click                delivery, link      32     ``/t/c/<token>``
anonymous click      link                24     ``/t/c/<token>``
honeypot             delivery            24     ``/t/c/<token>`` (looks like any click)
anonymous honeypot   campaign            24     ``/t/c/<token>``
===================  ==================  =====  ==========================================

Anonymous tokens carry no delivery: every recipient of a campaign who is counted anonymously gets
the very same URLs, so no event they cause can be traced back to them.

The sender calls these functions about ten times per message, so the keyed HMAC states are
built once per process and only copied per token (about 2 µs per URL). SECRET_KEY_FALLBACKS
still verify, so rotating the key does not break links in mails already sent.
"""

import base64
import binascii
import hashlib
import hmac
import re

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

ID_BYTES = 6
MAC_BYTES = 12
MAX_ID = (1 << (8 * ID_BYTES)) - 1
PREFIX = "/t/"
OPEN_PATH = PREFIX + "o/"
CLICK_PATH = PREFIX + "c/"

OPEN = "open"
ANONYMOUS_OPEN = "anonymous-open"
CLICK = "click"
ANONYMOUS_CLICK = "anonymous-click"
HONEYPOT = "honeypot"
ANONYMOUS_HONEYPOT = "anonymous-honeypot"
PURPOSES = (OPEN, ANONYMOUS_OPEN, CLICK, ANONYMOUS_CLICK, HONEYPOT, ANONYMOUS_HONEYPOT)
# Keys for purposes other than tokens, derived the same way.
IP_HASH = "ip-hash"

IDS_PER_TOKEN = {CLICK: 2}  # every other purpose names one id
SHORT_LENGTH = 4 * (ID_BYTES + MAC_BYTES) // 3  # 24
LONG_LENGTH = 4 * (2 * ID_BYTES + MAC_BYTES) // 3  # 32
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]+")
_URLSAFE = bytes.maketrans(b"+/", b"-_")

_state: dict = {}


@receiver(setting_changed)
def _forget_keys(*, setting, **kwargs):
    if setting in {"SECRET_KEY", "SECRET_KEY_FALLBACKS", "SITE_URL"}:
        _state.clear()


def _derive(secret: str, purpose: str) -> bytes:
    return hmac.digest(secret.encode(), f"kanal.tracking.{purpose}".encode(), "sha256")


def _load() -> dict:
    """Keyed HMAC states per purpose: the current key first, then the fallbacks (verification only)."""
    if not _state:
        secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        states = {
            purpose: [hmac.new(_derive(secret, purpose), digestmod=hashlib.sha256) for secret in secrets]
            for purpose in (*PURPOSES, IP_HASH)
        }
        _state.update(
            states=states,
            click_key=_derive(secrets[0], CLICK),
            open_base=settings.SITE_URL + OPEN_PATH,
            click_base=settings.SITE_URL + CLICK_PATH,
        )
    return _state


def _mac(state, payload: bytes) -> bytes:
    mac = state.copy()
    mac.update(payload)
    return mac.digest()[:MAC_BYTES]


def _pack(*ids: int) -> bytes:
    if len(ids) == 1:
        (value,) = ids
        if not 0 < value <= MAX_ID:
            raise ValueError(f"Tracking ids must be between 1 and {MAX_ID}, not {value!r}.")
        return value.to_bytes(ID_BYTES, "big")
    return b"".join(_pack(value) for value in ids)


def make_token(purpose: str, *ids: int) -> str:
    if len(ids) != IDS_PER_TOKEN.get(purpose, 1):
        raise ValueError(f"A {purpose} token names {IDS_PER_TOKEN.get(purpose, 1)} id(s).")
    payload = _pack(*ids)
    raw = payload + _mac(_load()["states"][purpose][0], payload)
    return base64.urlsafe_b64encode(raw).decode("ascii")


def read_token(token: str, purpose: str) -> tuple[int, ...] | None:
    """The ids in ``token`` if it was signed for ``purpose``, else None. Never raises on input."""
    expected_length = LONG_LENGTH if IDS_PER_TOKEN.get(purpose, 1) == 2 else SHORT_LENGTH
    if not isinstance(token, str) or len(token) != expected_length:
        return None
    if not _TOKEN_RE.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return None
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    for state in _load()["states"][purpose]:
        if hmac.compare_digest(_mac(state, payload), mac):
            ids = tuple(int.from_bytes(payload[i : i + ID_BYTES], "big") for i in range(0, len(payload), ID_BYTES))
            return ids if all(ids) else None
    return None


def _read_one(token: str, purpose: str) -> int | None:
    ids = read_token(token, purpose)
    return ids[0] if ids else None


# Open and click URLs with a delivery: only for subscribers who agreed to individual tracking.


def open_url(*, delivery_id: int) -> str:
    return _load()["open_base"] + make_token(OPEN, delivery_id)


def click_url(*, delivery_id: int, link_id: int) -> str:
    return _load()["click_base"] + make_token(CLICK, delivery_id, link_id)


def click_urls(*, delivery_id: int, link_ids) -> list[str]:
    """``click_url`` for every link of one message: the sender's hot path (16 links × 4,000 messages/s),
    so the delivery id is packed once, the HMAC is OpenSSL's one-shot ``hmac.digest`` and the
    URL-safe base64 one C call per token."""
    state = _load()
    key, base = state["click_key"], state["click_base"]
    delivery = _pack(delivery_id)
    urls = []
    for link_id in link_ids:
        payload = delivery + _pack(link_id)
        raw = payload + hmac.digest(key, payload, "sha256")[:MAC_BYTES]
        urls.append(base + binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).decode("ascii"))
    return urls


def honeypot_url(*, delivery_id: int) -> str:
    return _load()["click_base"] + make_token(HONEYPOT, delivery_id)


def verify_open(token: str) -> int | None:
    """The delivery id of an open token, or None."""
    return _read_one(token, OPEN)


def verify_click(token: str) -> tuple[int, int] | None:
    """(delivery id, link id) of a click token, or None."""
    ids = read_token(token, CLICK)
    return (ids[0], ids[1]) if ids else None


def verify_honeypot(token: str) -> int | None:
    return _read_one(token, HONEYPOT)


# Anonymous URLs: the same for every anonymous recipient of a campaign.


def anonymous_open_url(*, campaign_id: int) -> str:
    return _load()["open_base"] + make_token(ANONYMOUS_OPEN, campaign_id)


def anonymous_click_url(*, link_id: int) -> str:
    return _load()["click_base"] + make_token(ANONYMOUS_CLICK, link_id)


def anonymous_honeypot_url(*, campaign_id: int) -> str:
    return _load()["click_base"] + make_token(ANONYMOUS_HONEYPOT, campaign_id)


def verify_anonymous_open(token: str) -> int | None:
    """The campaign id of an anonymous open token, or None."""
    return _read_one(token, ANONYMOUS_OPEN)


def verify_anonymous_click(token: str) -> int | None:
    """The link id of an anonymous click token, or None."""
    return _read_one(token, ANONYMOUS_CLICK)


def verify_anonymous_honeypot(token: str) -> int | None:
    return _read_one(token, ANONYMOUS_HONEYPOT)


def ip_hash(ip: str) -> str:
    """A keyed, truncated hash of a client address: enough to tell scanners' bursts apart for a
    minute, not enough to recover the address without SECRET_KEY. Cleared once the event is counted."""
    if not ip:
        return ""
    return _mac(_load()["states"][IP_HASH][0], ip.encode("utf-8", "replace"))[:8].hex()
