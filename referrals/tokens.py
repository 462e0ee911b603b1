"""Signed tokens of the referral programme. Each has its own salt, so it opens nothing else: not
the preference page, not unsubscribe, and nobody can read or change the referrer with it.

=============  ================================================  =========================================
token          what it can do                                    lifetime
=============  ================================================  =========================================
referral link  lead to a list's sign-up page and name, in the    until the referrer's token version rises
               sign-up form, who invited the new person
own device     a cookie set by the referrer's preference page:   KANAL_REFERRAL_SELF_WINDOW_DAYS
               tells the sign-up form that this browser is the
               referrer's (self-referral check); nothing else
=============  ================================================  =========================================

The link names the referrer by ``public_id`` (random, and by itself a key to nothing), their token
version and the list.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing

from subscribers.tokens import InvalidToken, RepeatedSigner

LINK_SALT = "kanal.referrals.link"
DEVICE_SALT = "kanal.referrals.device"


@dataclass(frozen=True)
class ReferralLink:
    public_id: uuid.UUID
    token_version: int
    mailing_list_id: int


def _value(public_id, token_version: int, mailing_list_id: int) -> str:
    return f"{uuid.UUID(str(public_id)).hex}.{token_version}.{mailing_list_id}"


def make_referral_token(*, public_id, token_version: int, mailing_list_id: int) -> str:
    return signing.Signer(salt=LINK_SALT).sign(_value(public_id, token_version, mailing_list_id))


class ReferralTokens:
    """``make_referral_token`` for a whole sending batch, with the key derived once."""

    def __init__(self):
        self._signer = RepeatedSigner(signing.Signer(salt=LINK_SALT))

    def sign(self, public_id, token_version: int, mailing_list_id: int) -> str:
        return self._signer.sign(_value(public_id, token_version, mailing_list_id))


def read_referral_token(token: str) -> ReferralLink:
    try:
        value = signing.Signer(salt=LINK_SALT).unsign(token)
    except signing.BadSignature as error:
        raise InvalidToken("bad signature") from error
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise InvalidToken("malformed payload")
    try:
        public_id = uuid.UUID(hex=parts[0])
    except ValueError as error:
        raise InvalidToken("malformed payload") from error
    return ReferralLink(public_id=public_id, token_version=int(parts[1]), mailing_list_id=int(parts[2]))


def make_device_token(*, public_id) -> str:
    return signing.TimestampSigner(salt=DEVICE_SALT).sign(uuid.UUID(str(public_id)).hex)


def read_device_token(token: str, *, max_age: timedelta) -> uuid.UUID | None:
    """The referrer a device cookie names, or None when it is missing, forged or too old."""
    try:
        return uuid.UUID(hex=signing.TimestampSigner(salt=DEVICE_SALT).unsign(token, max_age=max_age))
    except (signing.BadSignature, ValueError):
        return None
