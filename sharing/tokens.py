"""Signed tokens of the forward page and the share redirect (``newsletter_site.signed_ids``,
one key per purpose under ``kanal.sharing``).

===========  ====================  =====  =================================
purpose      ids                   chars  URL
===========  ====================  =====  =================================
forward      delivery, campaign    32     ``/forward/<token>/``
share        campaign              24     ``/share/<token>/<network>/``
===========  ====================  =====  =================================

A forward token opens the forward page of its campaign and nothing else: it never reads or
changes anything about the delivery's subscriber, who is named only to count forwarders and to
rate-limit them. A share token is the same in every mail of a campaign and on its archive page.
"""

from django.conf import settings

from newsletter_site.signed_ids import DeliverySigner, SignedIds

FORWARD = "forward"
SHARE = "share"
FORWARD_PATH = "/forward/"
SHARE_PATH = "/share/"

_signed = SignedIds("kanal.sharing", {FORWARD: 2, SHARE: 1})


def forward_url(*, delivery_id: int, campaign_id: int) -> str:
    return settings.SITE_URL + FORWARD_PATH + _signed.make(FORWARD, delivery_id, campaign_id) + "/"


def forward_signer(*, campaign_id: int) -> DeliverySigner:
    """Forward URLs of one campaign for many deliveries (the sender's batch); add the final "/"."""
    return _signed.signer(FORWARD, [(campaign_id,)], base=settings.SITE_URL + FORWARD_PATH)


def share_url(*, campaign_id: int, network: str) -> str:
    return settings.SITE_URL + SHARE_PATH + _signed.make(SHARE, campaign_id) + f"/{network}/"


def verify_forward(token: str) -> tuple[int, int] | None:
    """(delivery id, campaign id) of a forward token, or None."""
    ids = _signed.read(token, FORWARD)
    return (ids[0], ids[1]) if ids else None


def verify_share(token: str) -> int | None:
    """The campaign id of a share token, or None."""
    ids = _signed.read(token, SHARE)
    return ids[0] if ids else None
