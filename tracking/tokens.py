"""Compact signed tokens for the open pixel and click URLs in every mail.

Tokens are newsletter_site.signed_ids tokens (48-bit ids and a 96-bit HMAC-SHA256, one key per
purpose under ``kanal.tracking``), so a token made for one purpose never passes as another:

===================  ==================  =====  ==========================================
purpose              ids                 chars  URL
===================  ==================  =====  ==========================================
open                 delivery            24     ``/t/o/<token>``
anonymous open       campaign            24     ``/t/o/<token>``
click                delivery, link      32     ``/t/c/<token>``
anonymous click      link                24     ``/t/c/<token>``
honeypot             delivery            24     ``/t/c/<token>`` (looks like any click)
anonymous honeypot   campaign            24     ``/t/c/<token>``
message open         message             24     ``/t/o/<token>``
message click        message, position   32     ``/t/c/<token>``
message honeypot     message             24     ``/t/c/<token>``
===================  ==================  =====  ==========================================

"Message" tokens name one transactional mail (``transactional.TransactionalMessage``) instead of a
campaign delivery, and a click token the link's position in that mail; the app that owns the
messages tells tracking what the ids mean (``tracking.extensions.MessageSource``).

Anonymous tokens carry no delivery: every recipient of a campaign who is counted anonymously gets
the very same URLs, so no event they cause can be traced back to them.

The sender signs all click URLs of a message at once (``click_urls``), through one
``DeliverySigner`` per set of links. SECRET_KEY_FALLBACKS still verify, so rotating the key does
not break links in mails already sent.
"""

import hmac
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from newsletter_site.signed_ids import SignedIds

PREFIX = "/t/"
OPEN_PATH = PREFIX + "o/"
CLICK_PATH = PREFIX + "c/"

OPEN = "open"
ANONYMOUS_OPEN = "anonymous-open"
CLICK = "click"
ANONYMOUS_CLICK = "anonymous-click"
HONEYPOT = "honeypot"
ANONYMOUS_HONEYPOT = "anonymous-honeypot"
MESSAGE_OPEN = "message-open"
MESSAGE_CLICK = "message-click"
MESSAGE_HONEYPOT = "message-honeypot"
PURPOSES = (
    OPEN,
    ANONYMOUS_OPEN,
    CLICK,
    ANONYMOUS_CLICK,
    HONEYPOT,
    ANONYMOUS_HONEYPOT,
    MESSAGE_OPEN,
    MESSAGE_CLICK,
    MESSAGE_HONEYPOT,
)
# A key for something other than tokens, derived the same way.
IP_HASH = "ip-hash"

_signed = SignedIds("kanal.tracking", {purpose: 2 if purpose in (CLICK, MESSAGE_CLICK) else 1 for purpose in PURPOSES})
SHORT_LENGTH = _signed.token_length(OPEN)  # 24
LONG_LENGTH = _signed.token_length(CLICK)  # 32


@lru_cache(maxsize=64)
def _click_signer(link_ids: tuple[int, ...]):
    return _signed.signer(CLICK, [(link_id,) for link_id in link_ids], base=settings.SITE_URL + CLICK_PATH)


@receiver(setting_changed)
def _forget_signers(*, setting, **kwargs):
    if setting in {"SECRET_KEY", "SECRET_KEY_FALLBACKS", "SITE_URL"}:
        _click_signer.cache_clear()


def _read_one(token: str, purpose: str) -> int | None:
    ids = _signed.read(token, purpose)
    return ids[0] if ids else None


def _open_url(token: str) -> str:
    return settings.SITE_URL + OPEN_PATH + token


def _click_url(token: str) -> str:
    return settings.SITE_URL + CLICK_PATH + token


# Open and click URLs with a delivery: only for subscribers who agreed to individual tracking.


def open_url(*, delivery_id: int) -> str:
    return _open_url(_signed.make(OPEN, delivery_id))


def click_url(*, delivery_id: int, link_id: int) -> str:
    return _click_url(_signed.make(CLICK, delivery_id, link_id))


def click_urls(*, delivery_id: int, link_ids) -> list[str]:
    """``click_url`` for every link of one message: the sender's hot path."""
    return _click_signer(tuple(link_ids)).urls(delivery_id)


def honeypot_url(*, delivery_id: int) -> str:
    return _click_url(_signed.make(HONEYPOT, delivery_id))


def verify_open(token: str) -> int | None:
    """The delivery id of an open token, or None."""
    return _read_one(token, OPEN)


def verify_click(token: str) -> tuple[int, int] | None:
    """(delivery id, link id) of a click token, or None."""
    ids = _signed.read(token, CLICK)
    return (ids[0], ids[1]) if ids else None


def verify_honeypot(token: str) -> int | None:
    return _read_one(token, HONEYPOT)


# Anonymous URLs: the same for every anonymous recipient of a campaign.


def anonymous_open_url(*, campaign_id: int) -> str:
    return _open_url(_signed.make(ANONYMOUS_OPEN, campaign_id))


def anonymous_click_url(*, link_id: int) -> str:
    return _click_url(_signed.make(ANONYMOUS_CLICK, link_id))


def anonymous_honeypot_url(*, campaign_id: int) -> str:
    return _click_url(_signed.make(ANONYMOUS_HONEYPOT, campaign_id))


def verify_anonymous_open(token: str) -> int | None:
    """The campaign id of an anonymous open token, or None."""
    return _read_one(token, ANONYMOUS_OPEN)


def verify_anonymous_click(token: str) -> int | None:
    """The link id of an anonymous click token, or None."""
    return _read_one(token, ANONYMOUS_CLICK)


def verify_anonymous_honeypot(token: str) -> int | None:
    return _read_one(token, ANONYMOUS_HONEYPOT)


# Message URLs: one transactional mail to a recipient who allows individual tracking.


def message_open_url(*, message_id: int) -> str:
    return _open_url(_signed.make(MESSAGE_OPEN, message_id))


def message_click_url(*, message_id: int, position: int) -> str:
    """``position`` counts the mail's links from 1 (a token id is never 0)."""
    return _click_url(_signed.make(MESSAGE_CLICK, message_id, position))


def message_honeypot_url(*, message_id: int) -> str:
    return _click_url(_signed.make(MESSAGE_HONEYPOT, message_id))


def verify_message_open(token: str) -> int | None:
    """The message id of a message open token, or None."""
    return _read_one(token, MESSAGE_OPEN)


def verify_message_click(token: str) -> tuple[int, int] | None:
    """(message id, link position) of a message click token, or None."""
    ids = _signed.read(token, MESSAGE_CLICK)
    return (ids[0], ids[1]) if ids else None


def verify_message_honeypot(token: str) -> int | None:
    return _read_one(token, MESSAGE_HONEYPOT)


def ip_hash(ip: str) -> str:
    """A keyed, truncated hash of a client address: enough to tell scanners' bursts apart for a
    minute, not enough to recover the address without SECRET_KEY. Cleared once the event is counted."""
    if not ip:
        return ""
    return hmac.digest(_signed.keys(IP_HASH)[0], ip.encode("utf-8", "replace"), "sha256")[:8].hex()
