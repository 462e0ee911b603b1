"""Codes at send time: each delivery of a mail with an offer gets exactly one code, before it is sent.

``coupons_assign`` runs once per claimed sending batch, before any message of the batch is handed
over, and commits before it returns. A delivery that has a code keeps it (a batch sent again after
a killed worker finds it); the others get free pool codes: one read of the codes they hold, one of
free codes, one INSERT of the pairs. The unique delivery and unique coupon of ``CouponAssignment``
make a second code for a delivery, or a code for two deliveries, impossible whatever the workers do.
"""

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign, Delivery
from offers.models import CampaignOffer, Coupon, CouponAssignment, Offer, Redemption

# Rounds of the claim when a concurrent batch took a code this one had chosen (PostgreSQL only:
# the free codes' read predates the other's commit). Each round claims what the last missed.
CLAIM_ROUNDS = 3

# offer id -> the highest coupon id this process assigned: the next claim looks above it first, so
# it does not walk past every code given out before (a pool is used in id order). Only a hint:
# when the codes above it do not suffice, the claim looks at the whole pool.
_assigned_up_to: dict[int, int] = {}


def _quoted(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _held_sql() -> str:
    """(delivery id, code, coupon id) of the given deliveries that hold a code already."""
    ids = "SELECT unnest(%s::bigint[])" if connection.vendor == "postgresql" else "SELECT value FROM json_each(%s)"
    # Only quoted table names from the models' metadata reach the SQL text.
    return (
        f"SELECT a.delivery_id, c.code, c.id FROM {_quoted(CouponAssignment)} a "  # noqa: S608
        f"JOIN {_quoted(Coupon)} c ON c.id = a.coupon_id WHERE a.delivery_id IN ({ids})"
    )


def _free_sql() -> str:
    """(id, code) of the offer's free codes above an id, in id order, at most a number of them."""
    # PostgreSQL: the codes are locked, and codes another batch has locked are skipped, not waited
    # for. SQLite: the claim's transaction is the one writer; nothing changes between read and insert.
    lock = " FOR UPDATE OF c SKIP LOCKED" if connection.vendor == "postgresql" else ""
    return (
        f"SELECT c.id, c.code FROM {_quoted(Coupon)} c WHERE c.offer_id = %s AND c.id > %s "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {_quoted(CouponAssignment)} a WHERE a.coupon_id = c.id) "
        f"AND NOT EXISTS (SELECT 1 FROM {_quoted(Redemption)} r WHERE r.coupon_id = c.id) "
        f"ORDER BY c.id LIMIT %s{lock}"
    )


def _insert_sql() -> str:
    """The (coupon id, delivery id) pairs as assignments; returns the deliveries that got theirs."""
    if connection.vendor == "postgresql":
        pairs = "SELECT unnest(%s::bigint[]), unnest(%s::bigint[]), %s"
    else:
        pairs = "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), %s FROM json_each(%s) WHERE true"
    return (
        f"INSERT INTO {_quoted(CouponAssignment)} (coupon_id, delivery_id, assigned_at) {pairs} "
        "ON CONFLICT DO NOTHING RETURNING delivery_id"
    )


def _ids_param(ids: list[int]):
    if connection.vendor == "postgresql":
        return ids
    return "[" + ",".join(str(int(pk)) for pk in ids) + "]"


def _insert_params(pairs: list[tuple[int, int]], now) -> list:
    if connection.vendor == "postgresql":
        return [[coupon for coupon, _delivery in pairs], [delivery for _coupon, delivery in pairs], now]
    return [now, "[" + ",".join(f"[{int(coupon)},{int(delivery)}]" for coupon, delivery in pairs) + "]"]


def coupons_assign(*, offer_id: int, delivery_ids: list[int]) -> dict[int, str]:
    """Each delivery's code: the one it has, else a free code of the offer's pool; committed on return.

    Deliveries missing from the answer got none: the pool has no free code left for them.
    """
    codes: dict[int, str] = {}
    missing = list(delivery_ids)
    after = _assigned_up_to.get(offer_id, 0)
    with transaction.atomic(), connection.cursor() as cursor:
        for _round in range(CLAIM_ROUNDS + 1):
            cursor.execute(_held_sql(), [_ids_param(missing)])
            for delivery_id, code, coupon_id in cursor.fetchall():
                codes[delivery_id] = code
                after = max(after, coupon_id)
            missing = [pk for pk in missing if pk not in codes]
            if not missing:
                break
            looked_above, wanted = after, len(missing)
            cursor.execute(_free_sql(), [offer_id, looked_above, wanted])
            free = cursor.fetchall()
            if free:
                pairs = list(zip((coupon_id for coupon_id, _code in free), missing, strict=False))
                now = connection.ops.adapt_datetimefield_value(timezone.now())
                cursor.execute(_insert_sql(), _insert_params(pairs, now))
                given = {delivery_id for (delivery_id,) in cursor.fetchall()}
                code_of = dict(free)
                for coupon_id, delivery_id in pairs:
                    if delivery_id in given:
                        codes[delivery_id] = code_of[coupon_id]
                        after = max(after, coupon_id)
                missing = [pk for pk in missing if pk not in codes]
                if not missing:
                    break
            if len(free) < wanted:
                if looked_above == 0:
                    break  # the whole pool was looked at: no free code left
                after = 0
    if after:
        _assigned_up_to[offer_id] = after
    return codes


def campaign_offer_set(*, campaign: Campaign, offer: Offer) -> CampaignOffer:
    """Put ``offer`` into the campaign's mail (replacing another offer while no code is given out)."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        current = CampaignOffer.objects.filter(campaign=campaign).first()
        if current is not None and current.offer_id != offer.pk and codes_given(campaign):
            raise ValidationError(
                _("Codes of “%(offer)s” are in this mail's deliveries already; the offer cannot change.")
                % {"offer": current.offer}
            )
        block, _created = CampaignOffer.objects.update_or_create(campaign=campaign, defaults={"offer": offer})
        # A new updated_at makes every worker compile the mail again, now with the block.
        campaign.save(update_fields=["updated_at"])
    return block


def campaign_offer_remove(*, campaign: Campaign) -> None:
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if codes_given(campaign):
            raise ValidationError(_("Codes are in this mail's deliveries already; the offer cannot be removed."))
        CampaignOffer.objects.filter(campaign=campaign).delete()
        campaign.save(update_fields=["updated_at"])


def codes_given(campaign: Campaign) -> bool:
    return CouponAssignment.objects.filter(delivery__campaign=campaign).exists() or (
        campaign.status != Campaign.Status.DRAFT
        and Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).exists()
    )
