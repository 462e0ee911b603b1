"""The seam for referral tokens on share links: the app that owns referrals registers here.

A share link in a subscriber's mail carries that subscriber's referral token when a source is
registered and has one for them (``?ref=<token>`` on the share URL); the share redirect passes a
token the source verifies on to the archive page as ``?<parameter>=<token>``, and names its
subscriber as the sharer of the share event (stored only with their tracking consent). Without a source
(the default) share links are the campaign's own, the same for everyone.
"""

from collections.abc import Callable
from typing import Protocol


class ReferralSource(Protocol):
    parameter: str
    """The query parameter the archive and sign-up pages read the token from."""

    def tokens_for(self, campaign) -> Callable[[object], str | None] | None:
        """Called once per sending batch: a function giving the referral token of one recipient
        (``campaigns.services.transports.Recipient``: ``public_id``, ``token_version``, names), or
        None when it has none; or None when this campaign's sharers get no token. The function is
        called once per message in the sending loop, so it signs and does not query."""

    def sharer_id(self, token: str) -> int | None:
        """The id of the subscriber whose live referral token ``token`` is, or None (the redirect
        passes on nothing else). The token only names the sharer of a share event: it can read
        or change nothing about them."""


REFERRAL_SOURCES: list[ReferralSource] = []
"""At most one entry, registered in the referral app's ``AppConfig.ready()``."""

SHARE_PARAMETER = "ref"


def referral_source() -> ReferralSource | None:
    return REFERRAL_SOURCES[0] if REFERRAL_SOURCES else None
