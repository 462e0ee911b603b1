"""Referral tokens on share links (``sharing.referrals.REFERRAL_SOURCES``): a reader who shares a
campaign shares their referral link to the campaign's sign-up list, so friends who sign up from the
shared archive page count for them. The token is the referral link's own (``referrals.tokens``)."""

from referrals import tokens
from referrals.pages import FIELD
from subscribers.models import Subscriber
from subscribers.tokens import InvalidToken


def _signup_list_id(campaign) -> int | None:
    """The list the archive page's sign-up links lead to (``campaigns.previews.signup_url``: the
    campaign's first list), when people may sign up to it."""
    first = campaign.mailing_lists.order_by("pk").values_list("pk", "is_public").first()
    return first[0] if first and first[1] else None


class ShareReferrals:
    parameter = FIELD

    def tokens_for(self, campaign):
        mailing_list_id = _signup_list_id(campaign)
        if mailing_list_id is None:
            return None
        signer = tokens.ReferralTokens()

        def token_for(recipient) -> str:
            return signer.sign(recipient.public_id, recipient.token_version, mailing_list_id)

        return token_for

    def verify(self, token: str) -> bool:
        try:
            link = tokens.read_referral_token(token)
        except InvalidToken:
            return False
        return Subscriber.objects.filter(public_id=link.public_id, token_version=link.token_version).exists()


SOURCE = ShareReferrals()
