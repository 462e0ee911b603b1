"""Codes at send time: each delivery of a mail with an offer gets exactly one code, before it is sent.

``coupons_assign`` runs once per claimed sending batch, before any message of the batch is handed
over, and commits before it returns. A delivery that has a code keeps it (a batch sent again after
a killed worker finds it); the others get free pool codes in one set-based INSERT … SELECT. The
unique delivery and unique coupon of ``CouponAssignment`` make a second code for a delivery, or a
code for two deliveries, impossible whatever the workers do.
"""

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign, Delivery
from offers.models import CampaignOffer, Coupon, CouponAssignment, Offer, Redemption

# Rounds of the claim when a concurrent batch took a code this one had chosen (PostgreSQL only:
# the statement's snapshot predates the other's commit). Each round claims what the last missed.
CLAIM_ROUNDS = 3

# offer id -> the highest coupon id this process assigned: the next claim looks above it first, so
# it does not walk past every code given out before (a pool is used in id order). Only a hint:
# when the codes above it do not suffice, the claim looks at the whole pool.
_assigned_up_to: dict[int, int] = {}


def _ids_sql() -> str:
    """The deliveries' ids as rows (id): a PostgreSQL array or, on SQLite, a JSON list."""
    if connection.vendor == "postgresql":
        return "SELECT unnest(%s::bigint[]) AS id"
    return "SELECT value AS id FROM json_each(%s)"


def _ids_param(ids: list[int]):
    if connection.vendor == "postgresql":
        return ids
    return "[" + ",".join(str(int(pk)) for pk in ids) + "]"


def _claim_sql() -> str:
    quote = connection.ops.quote_name
    coupon, assignment = quote(Coupon._meta.db_table), quote(CouponAssignment._meta.db_table)
    redemption = quote(Redemption._meta.db_table)
    # PostgreSQL: free codes are locked, and codes another batch has locked are skipped, not
    # waited for. SQLite: the statement is the one writer; its read and its insert see the same data.
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    # Only quoted table names from the models' metadata reach the SQL text. The n-th delivery without
    # a code gets the n-th free code: both sides numbered, paired by GROUP BY n (a sort, where a
    # join on the numbers would compare every pair on SQLite).
    return (
        f"WITH need AS (SELECT d.id, row_number() OVER (ORDER BY d.id) AS n FROM ({_ids_sql()}) d "  # noqa: S608
        f"WHERE NOT EXISTS (SELECT 1 FROM {assignment} a WHERE a.delivery_id = d.id)), "
        f"free AS (SELECT c.id FROM {coupon} c WHERE c.offer_id = %s AND c.id > %s "
        f"AND NOT EXISTS (SELECT 1 FROM {assignment} a WHERE a.coupon_id = c.id) "
        f"AND NOT EXISTS (SELECT 1 FROM {redemption} r WHERE r.coupon_id = c.id) "
        f"ORDER BY c.id LIMIT %s{lock}), "
        "pairs AS (SELECT max(coupon_id) AS coupon_id, max(delivery_id) AS delivery_id FROM ("
        "SELECT row_number() OVER (ORDER BY id) AS n, id AS coupon_id, NULL AS delivery_id FROM free "
        "UNION ALL SELECT n, NULL, id FROM need) numbered GROUP BY n) "
        f"INSERT INTO {assignment} (coupon_id, delivery_id, assigned_at) "
        "SELECT coupon_id, delivery_id, %s FROM pairs WHERE coupon_id IS NOT NULL AND delivery_id IS NOT NULL "
        "ON CONFLICT DO NOTHING"
    )


def _codes_sql() -> str:
    quote = connection.ops.quote_name
    coupon, assignment = quote(Coupon._meta.db_table), quote(CouponAssignment._meta.db_table)
    return (
        f"SELECT a.delivery_id, c.code, c.id FROM {assignment} a JOIN {coupon} c ON c.id = a.coupon_id "  # noqa: S608
        f"WHERE a.delivery_id IN ({_ids_sql()})"
    )


def coupons_assign(*, offer_id: int, delivery_ids: list[int]) -> dict[int, str]:
    """Each delivery's code: the one it has, else a free code of the offer's pool; committed on return.

    One INSERT … SELECT gives every delivery without a code one of the free codes, and one SELECT
    reads them all back. Deliveries missing from the answer got none: the pool has no free code
    left for them.
    """
    codes: dict[int, str] = {}
    missing = list(delivery_ids)
    after = _assigned_up_to.get(offer_id, 0)
    with transaction.atomic(), connection.cursor() as cursor:
        for _round in range(CLAIM_ROUNDS + 1):
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            cursor.execute(_claim_sql(), [_ids_param(missing), offer_id, after, len(missing), now])
            inserted = cursor.rowcount
            cursor.execute(_codes_sql(), [_ids_param(missing)])
            for delivery_id, code, coupon_id in cursor.fetchall():
                codes[delivery_id] = code
                after = max(after, coupon_id)
            missing = [pk for pk in missing if pk not in codes]
            if not missing:
                break
            if inserted <= 0:
                if after == 0:
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
