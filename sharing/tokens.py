"""Signed tokens of the forward page and the share redirect (``newsletter_site.signed_ids``,
one key per purpose under ``kanal.sharing``).

===========  ====================  =====  =================================
purpose      ids                   chars  URL
===========  ====================  =====  =================================
forward      delivery, campaign    32     ``/forward/<token>/``
own_share    delivery, campaign    32     ``/share/<token>/<network>/``
share        campaign              24     ``/share/<token>/<network>/``
===========  ====================  =====  =================================

A forward token opens the forward page of its campaign and nothing else: it never reads or
changes anything about the delivery's subscriber, who is named only to count forwarders and to
rate-limit them. An own-share token exists only in the share links of one delivery's mail: it
names that delivery's subscriber as the sharer of a share event and does nothing else (it reads
and changes nothing about them). A share token is the campaign's, the same for everyone (the
archive page's share buttons), and names nobody. Each purpose has its own key, so neither of the
two delivery tokens passes as the other.
"""

from django.conf import settings

from newsletter_site.signed_ids import DeliverySigner, SignedIds

FORWARD = "forward"
OWN_SHARE = "own_share"
SHARE = "share"
FORWARD_PATH = "/forward/"
SHARE_PATH = "/share/"

_signed = SignedIds("kanal.sharing", {FORWARD: 2, OWN_SHARE: 2, SHARE: 1})


def forward_url(*, delivery_id: int, campaign_id: int) -> str:
    return settings.SITE_URL + FORWARD_PATH + _signed.make(FORWARD, delivery_id, campaign_id) + "/"


def forward_signer(*, campaign_id: int) -> DeliverySigner:
    """Forward URLs of one campaign for many deliveries (the sender's batch); add the final "/"."""
    return _signed.signer(FORWARD, [(campaign_id,)], base=settings.SITE_URL + FORWARD_PATH)


def share_url(*, campaign_id: int, network: str) -> str:
    return settings.SITE_URL + SHARE_PATH + _signed.make(SHARE, campaign_id) + f"/{network}/"


def own_share_url(*, delivery_id: int, campaign_id: int, network: str) -> str:
    return settings.SITE_URL + SHARE_PATH + _signed.make(OWN_SHARE, delivery_id, campaign_id) + f"/{network}/"


def own_share_signer(*, campaign_id: int) -> DeliverySigner:
    """The share URLs' stem of one campaign for many deliveries (the sender's batch); add
    ``/<network>/``."""
    return _signed.signer(OWN_SHARE, [(campaign_id,)], base=settings.SITE_URL + SHARE_PATH)


def verify_forward(token: str) -> tuple[int, int] | None:
    """(delivery id, campaign id) of a forward token, or None."""
    ids = _signed.read(token, FORWARD)
    return (ids[0], ids[1]) if ids else None


def verify_share(token: str) -> int | None:
    """The campaign id of a share token, or None."""
    ids = _signed.read(token, SHARE)
    return ids[0] if ids else None


def verify_own_share(token: str) -> tuple[int, int] | None:
    """(delivery id, campaign id) of the share links in one delivery's mail, or None."""
    ids = _signed.read(token, OWN_SHARE)
    return (ids[0], ids[1]) if ids else None
