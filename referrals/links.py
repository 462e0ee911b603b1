"""Absolute referral links."""

from django.conf import settings
from django.urls import reverse

from referrals.tokens import ReferralTokens, make_referral_token

PLACEHOLDER = "TOKENPLACEHOLDER"


def referral_url(*, subscriber, mailing_list_id: int) -> str:
    token = make_referral_token(
        public_id=subscriber.public_id, token_version=subscriber.token_version, mailing_list_id=mailing_list_id
    )
    return settings.SITE_URL + reverse("referrals:link", kwargs={"token": token})


class ReferralLinks:
    """``referral_url`` for a whole sending batch: the URL prefix resolved and the key derived once."""

    def __init__(self, *, mailing_list_id: int):
        self._tokens = ReferralTokens()
        self._mailing_list_id = mailing_list_id
        full = settings.SITE_URL + reverse("referrals:link", kwargs={"token": PLACEHOLDER})
        self._before, self._after = full.split(PLACEHOLDER)

    def for_subscriber(self, subscriber) -> str:
        token = self._tokens.sign(subscriber.public_id, subscriber.token_version, self._mailing_list_id)
        return self._before + token + self._after
