"""The signed link to an offer in mails and on pages: ``/o/<token>``.

newsletter_site.signed_ids tokens under ``kanal.offers`` with one purpose, ``link``: (offer id,
delivery id or 0). The token opens the offer's link page and nothing else; no other app's token
passes as one. The delivery id is for the offer block of a later part of issue 14; links made
outside a mail carry 0.
"""

from django.conf import settings

from newsletter_site.signed_ids import SignedIds

LINK = "link"
PATH = "/o/"

_signed = SignedIds("kanal.offers", {LINK: 2}, last_id_may_be_zero=True)


def link_token(*, offer_id: int, delivery_id: int = 0) -> str:
    return _signed.make(LINK, offer_id, delivery_id)


def read_link_token(token: str) -> tuple[int, int] | None:
    """(offer id, delivery id or 0), or None for anything not signed as an offer link."""
    return _signed.read(token, LINK)


def offer_url(*, offer_id: int, delivery_id: int = 0) -> str:
    return settings.SITE_URL + PATH + link_token(offer_id=offer_id, delivery_id=delivery_id)


def delivery_offer_urls(*, offer_id: int):
    """The offer link of each delivery, signed fast for a sending batch: ``urls(delivery_id)``."""
    return _signed.last_id_signer(LINK, (offer_id,), base=settings.SITE_URL + PATH).url
