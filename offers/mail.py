"""The offer block in campaign and automation mails (``campaigns.extensions.OFFER_BLOCKS``), its merge
tags (``RECIPIENT_VALUES``) and the batch preparer that gives each delivery its code before it is
sent (``BATCH_PREPARERS``)."""

from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from campaigns.extensions import OfferBlock, PreparedBatch
from campaigns.models import Campaign
from offers import tokens
from offers.models import CampaignOffer, Offer
from offers.services.assignment import coupons_assign

CODE, URL, DEADLINE = "offer_code", "offer_url", "offer_deadline"
MERGE_TAGS = (CODE, URL, DEADLINE)


def _campaign_offer(campaign) -> Offer | None:
    block = CampaignOffer.objects.filter(campaign_id=campaign.pk).select_related("offer").first()
    return block.offer if block is not None else None


def deadline_text(offer: Offer) -> str:
    """The offer's end in the active language, e.g. "31.12.2026 23:59"."""
    return formats.date_format(timezone.localtime(offer.expires_at), "SHORT_DATETIME_FORMAT")


def offer_block_changes_at(campaign):
    """The offer's end while it runs: pages that show the block are cached until then."""
    offer = _campaign_offer(campaign)
    if offer is None or offer.has_ended():
        return None
    return offer.expires_at


def offer_block_for(campaign) -> OfferBlock | None:
    """The block of the campaign's offer, in the active language (the compiler sets the mail's)."""
    offer = _campaign_offer(campaign)
    if offer is None:
        return None
    if offer.has_ended():
        return OfferBlock(
            title=offer.name,
            ended=True,
            ended_text=_("This offer ended on %(deadline)s.") % {"deadline": deadline_text(offer)},
        )
    return OfferBlock(
        title=offer.name,
        ended=False,
        terms=offer.terms,
        deadline_text=_("Valid until %(deadline)s") % {"deadline": deadline_text(offer)},
        code_label=_("Your code"),
        button_label=_("Redeem now"),
        code_value=CODE,
        url_value=URL,
        # Pages that name nobody (archive, previews, forwarded copies) show no code.
        code_fallback=_("(your personal code is in your mail)"),
        url_fallback=tokens.offer_url(offer_id=offer.pk),
    )


def campaign_offer_codes(*, campaign, delivery_ids: list[int]) -> PreparedBatch | None:
    """Before a batch is sent: each delivery's code (assigned now and committed, or the one it has).

    A shared-code offer needs no assignment. Deliveries the pool has no code for are held back,
    with a reason for the campaign page: they are never sent without their code.
    """
    offer = _campaign_offer(campaign)
    if offer is None:
        return None
    if offer.code_source == Offer.CodeSource.SHARED:
        shared = offer.coupons.values_list("code", flat=True).first()
        codes = dict.fromkeys(delivery_ids, shared) if shared else {}
    else:
        codes = coupons_assign(offer_id=offer.pk, delivery_ids=delivery_ids)
    held = frozenset(pk for pk in delivery_ids if pk not in codes)
    reason = ""
    if held:
        waiting = (
            _("Messages wait until codes are added.")
            if campaign.kind == Campaign.Kind.AUTOMATION
            else _("Sending is paused: add codes, then resume.")
        )
        reason = ngettext(
            "The offer “%(offer)s” has no code left for %(count)d message. %(what_now)s",
            "The offer “%(offer)s” has no codes left for %(count)d messages. %(what_now)s",
            len(held),
        ) % {
            "offer": offer.name,
            "count": len(held),
            "what_now": waiting,
        }
    with translation.override(campaign.language):
        deadline = deadline_text(offer)
    offer_url = tokens.delivery_offer_urls(offer_id=offer.pk)
    get_code = codes.get

    def values(delivery_id: int, recipient) -> dict:
        return {"values": {CODE: get_code(delivery_id, ""), URL: offer_url(delivery_id), DEADLINE: deadline}}

    return PreparedBatch(links=values, held=held, reason=reason)
