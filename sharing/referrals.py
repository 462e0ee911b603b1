"""The seam for referral tokens on share links: the app that owns referrals registers here.

A share link in a subscriber's mail carries that subscriber's referral token when a source is
registered and has one for them (``?ref=<token>`` on the share URL); the share redirect passes a
token the source verifies on to the archive page as ``?<parameter>=<token>``, for the referral
programme only: it names nobody as the sharer of the share event (the share links of a mail name
their reader through their own per-delivery token, ``sharing.tokens``). Without a source a
mail's share links carry only that per-delivery token; the archive page's are the campaign's own,
the same for everyone.
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

    def verify(self, token: str) -> bool:
        """Whether ``token`` is a live referral token (the redirect passes on nothing else). It
        names nobody as a sharer: share events are named only by the per-delivery token of the
        sharer's own share links (``sharing.tokens``)."""


REFERRAL_SOURCES: list[ReferralSource] = []
"""At most one entry, registered in the referral app's ``AppConfig.ready()``."""

SHARE_PARAMETER = "ref"


def referral_source() -> ReferralSource | None:
    return REFERRAL_SOURCES[0] if REFERRAL_SOURCES else None
