"""Signed tokens in subscriber-facing links. Each purpose has its own salt, so a token made for
one link never opens another.

==================  ======================================  ==========================================
token               what it can do                          lifetime
==================  ======================================  ==========================================
confirm             confirm one pending subscription        KANAL_CONFIRMATION_MAX_AGE_DAYS, once
unsubscribe         open the unsubscribe page, one-click    until the subscriber's token version rises
preferences         open the preference page                until the subscriber's token version rises
mailto-unsubscribe  nothing on the web: only for a reader   until the subscriber's token version rises
                    of the List-Unsubscribe mailbox
data link           export or erase (a POST), from a mail   24 hours, once, until the version rises
                    sent to the subscriber's own address
==================  ======================================  ==========================================
"""

import base64
import hashlib
import hmac
import time
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, int_to_base36

CONFIRM_SALT = "kanal.subscribers.confirm"
SUBSCRIBER_SALTS = {
    "preferences": "kanal.subscribers.preferences",
    "unsubscribe": "kanal.subscribers.unsubscribe",
    "mailto-unsubscribe": "kanal.subscribers.mailto-unsubscribe",
}


class InvalidToken(Exception):
    """The token is malformed, forged, made for another purpose, or expired."""

    def __init__(self, message: str = "", *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def make_confirmation_token(*, subscription_id: int, nonce: str) -> str:
    return signing.dumps({"s": subscription_id, "n": nonce}, salt=CONFIRM_SALT, compress=True)


def read_confirmation_token(token: str, *, max_age: timedelta) -> tuple[int, str]:
    try:
        payload = signing.loads(token, salt=CONFIRM_SALT, max_age=max_age)
    except signing.SignatureExpired as error:
        raise InvalidToken("expired", expired=True) from error
    except signing.BadSignature as error:
        raise InvalidToken("bad signature") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), int) or not isinstance(payload.get("n"), str):
        raise InvalidToken("malformed payload")
    return payload["s"], payload["n"]


def _subscriber_value(public_id, token_version: int) -> str:
    return f"{public_id}.{token_version}"


def make_subscriber_token(*, public_id, token_version: int, purpose: str) -> str:
    """A link token that does not expire: unsubscribe links in old mails must keep working. It names
    the subscriber's token version, so raising that version revokes every such link at once."""
    return signing.Signer(salt=SUBSCRIBER_SALTS[purpose]).sign(_subscriber_value(public_id, token_version))


def read_subscriber_token(token: str, *, purpose: str) -> tuple[str, int]:
    """(public id, token version) of a subscriber token; tokens from before versions name version 0."""
    try:
        value = signing.Signer(salt=SUBSCRIBER_SALTS[purpose]).unsign(token)
    except signing.BadSignature as error:
        raise InvalidToken("bad signature") from error
    public_id, _dot, version = value.partition(".")
    if version and not version.isdigit():
        raise InvalidToken("malformed payload")
    return public_id, int(version or 0)


class SubscriberTokens:
    """``make_subscriber_token`` for many subscribers, to the byte, with the HMAC key derived once.

    Django derives the key from the salt and SECRET_KEY on every call, which costs more than the MAC
    itself; a campaign batch signs two or three tokens per recipient. Only signing is done here:
    reading goes through ``read_subscriber_token``, which also accepts SECRET_KEY_FALLBACKS.
    """

    def __init__(self, purpose: str):
        signer = signing.Signer(salt=SUBSCRIBER_SALTS[purpose])
        self._signer = RepeatedSigner(signer)

    def sign(self, public_id, token_version: int) -> str:
        return self._signer.sign(_subscriber_value(public_id, token_version))


class RepeatedSigner:
    """``signer.sign(value)`` for many values, to the byte: the key is derived once, not per call.
    ``signer.unsign`` reads what this signs."""

    def __init__(self, signer: signing.Signer):
        hasher = getattr(hashlib, signer.algorithm)
        key = hasher(force_bytes(signer.salt + "signer") + force_bytes(signer.key)).digest()
        self._keyed = hmac.new(key, digestmod=hasher)
        self._sep = signer.sep

    def sign(self, value: str) -> str:
        mac = self._keyed.copy()
        mac.update(value.encode())
        return f"{value}{self._sep}{base64.urlsafe_b64encode(mac.digest()).rstrip(b'=').decode()}"


# One-time data links, modelled on django.contrib.auth.tokens.PasswordResetTokenGenerator: the MAC
# covers the subscriber's address, token version and the time a data link was last used, so the
# link dies when any of them changes, and it names the time it was made, so it dies after a day.
DATA_LINK_ACTIONS = ("export", "erase")
DATA_LINK_MAX_AGE_SECONDS = 24 * 3600
_DATA_LINK_SALT = "kanal.subscribers.data-link."


def _data_link_mac(subscriber, action: str, timestamp: int, secret: str) -> str:
    used = "" if subscriber.data_link_used_at is None else subscriber.data_link_used_at.timestamp()
    value = f"{subscriber.pk}|{subscriber.public_id}|{subscriber.email}|{subscriber.token_version}|{used}|{timestamp}"
    digest = salted_hmac(_DATA_LINK_SALT + action, value, secret=secret, algorithm="sha256").hexdigest()
    return digest[::2]


def make_data_link_token(*, subscriber, action: str) -> str:
    if action not in DATA_LINK_ACTIONS:
        raise ValueError(f"Unknown data link action {action!r}.")
    timestamp = int(time.time())
    return f"{int_to_base36(timestamp)}-{_data_link_mac(subscriber, action, timestamp, settings.SECRET_KEY)}"


def check_data_link_token(*, subscriber, action: str, token: str) -> bool:
    """Whether ``token`` is a data link for ``action`` made for ``subscriber`` as they are now, within a day."""
    if action not in DATA_LINK_ACTIONS or not isinstance(token, str) or len(token) > 64:
        return False
    timestamp_b36, _dash, mac = token.partition("-")
    try:
        timestamp = base36_to_int(timestamp_b36)
    except ValueError:
        return False
    if time.time() - timestamp > DATA_LINK_MAX_AGE_SECONDS:
        return False
    return any(
        constant_time_compare(_data_link_mac(subscriber, action, timestamp, secret), mac)
        for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    )
