"""Absolute links that every mail to a subscriber carries."""

import base64
import hashlib
import hmac
from email.utils import parseaddr

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.encoding import force_bytes

from subscribers.models import Subscriber
from subscribers.tokens import SUBSCRIBER_SALTS, make_subscriber_token


def _absolute(name: str, token: str) -> str:
    return settings.SITE_URL + reverse(name, kwargs={"token": token})


def preferences_url(subscriber: Subscriber) -> str:
    return _absolute(
        "subscribers:preferences", make_subscriber_token(public_id=subscriber.public_id, purpose="preferences")
    )


def unsubscribe_url(subscriber: Subscriber) -> str:
    return _absolute(
        "subscribers:unsubscribe", make_subscriber_token(public_id=subscriber.public_id, purpose="unsubscribe")
    )


def one_click_unsubscribe_url(subscriber: Subscriber) -> str:
    return _absolute(
        "subscribers:one_click_unsubscribe",
        make_subscriber_token(public_id=subscriber.public_id, purpose="unsubscribe"),
    )


# RFC 8058: the value of List-Unsubscribe-Post that makes the https target a one-click POST.
LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"


def list_unsubscribe_headers(subscriber: Subscriber) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe: an https target for the POST plus a mailto fallback."""
    _unsubscribe, _preferences, list_unsubscribe = MailLinks().for_subscriber(subscriber.public_id)
    return {"List-Unsubscribe": list_unsubscribe, "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST}


class MailLinks:
    """The same links for many messages, with URL prefixes resolved and signers built once.

    ``reverse()`` and building a ``Signer`` cost more than the signing itself; a campaign batch
    needs these links for hundreds of subscribers in a row.
    """

    _PLACEHOLDER = "TOKENPLACEHOLDER"

    def __init__(self):
        self._unsubscribe_signer = RepeatedSigner(signing.Signer(salt=SUBSCRIBER_SALTS["unsubscribe"]))
        self._preferences_signer = RepeatedSigner(signing.Signer(salt=SUBSCRIBER_SALTS["preferences"]))
        self._unsubscribe = self._split("subscribers:unsubscribe")
        self._one_click = self._split("subscribers:one_click_unsubscribe")
        self._preferences = self._split("subscribers:preferences")
        self._mailbox = settings.KANAL_UNSUBSCRIBE_MAILTO or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]

    def _split(self, name: str) -> tuple[str, str]:
        before, after = _absolute(name, self._PLACEHOLDER).split(self._PLACEHOLDER)
        return before, after

    def for_subscriber(self, public_id) -> tuple[str, str, str]:
        """(unsubscribe URL, preference-centre URL, List-Unsubscribe header value) for one subscriber:
        the header names the one-click https target and a mailto fallback (RFC 8058)."""
        token = self._unsubscribe_signer.sign(str(public_id))
        preferences_token = self._preferences_signer.sign(str(public_id))
        one_click = self._one_click[0] + token + self._one_click[1]
        header = f"<{one_click}>, <mailto:{self._mailbox}?subject=unsubscribe%20{token}>"
        return (
            self._unsubscribe[0] + token + self._unsubscribe[1],
            self._preferences[0] + preferences_token + self._preferences[1],
            header,
        )


class RepeatedSigner:
    """``signer.sign(value)`` for many values, to the byte: Django derives the HMAC key from the salt
    and SECRET_KEY on every call, which costs more than the MAC itself; here it is derived once.
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
