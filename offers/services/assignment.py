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


def _claim_sql() -> str:
    quote = connection.ops.quote_name
    coupon, assignment = quote(Coupon._meta.db_table), quote(CouponAssignment._meta.db_table)
    redemption = quote(Redemption._meta.db_table)
    if connection.vendor == "postgresql":
        # Free codes are locked, and codes another batch has locked are skipped, not waited for.
        need = "SELECT d.id, d.n FROM unnest(%s::bigint[]) WITH ORDINALITY AS d(id, n)"
        lock = " FOR UPDATE SKIP LOCKED"
    else:
        # SQLite: the statement is the one writer; its read and its insert see the same database.
        need = "SELECT value AS id, key + 1 AS n FROM json_each(%s)"
        lock = ""
    # Only quoted table names from the models' metadata reach the SQL text.
    return (
        f"WITH free AS (SELECT c.id FROM {coupon} c WHERE c.offer_id = %s "  # noqa: S608
        f"AND NOT EXISTS (SELECT 1 FROM {assignment} a WHERE a.coupon_id = c.id) "
        f"AND NOT EXISTS (SELECT 1 FROM {redemption} r WHERE r.coupon_id = c.id) "
        f"ORDER BY c.id LIMIT %s{lock}), "
        "numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM free), "
        f"need AS ({need}) "
        f"INSERT INTO {assignment} (coupon_id, delivery_id, assigned_at) "
        "SELECT numbered.id, need.id, %s FROM numbered JOIN need ON need.n = numbered.n WHERE true "
        "ON CONFLICT DO NOTHING"
    )


def _codes_of(delivery_ids) -> dict[int, str]:
    return dict(
        CouponAssignment.objects.filter(delivery_id__in=delivery_ids).values_list("delivery_id", "coupon__code")
    )


def coupons_assign(*, offer_id: int, delivery_ids: list[int]) -> dict[int, str]:
    """Each delivery's code: the one it has, else a free code of the offer's pool; committed on return.

    Deliveries missing from the answer got none: the pool has no free code left for them.
    """
    with transaction.atomic():
        codes = _codes_of(delivery_ids)
        for _round in range(CLAIM_ROUNDS):
            missing = [pk for pk in delivery_ids if pk not in codes]
            if not missing:
                break
            ids = missing if connection.vendor == "postgresql" else _json_list(missing)
            with connection.cursor() as cursor:
                cursor.execute(
                    _claim_sql(),
                    [offer_id, len(missing), ids, connection.ops.adapt_datetimefield_value(timezone.now())],
                )
                inserted = cursor.rowcount
            codes.update(_codes_of(missing))
            if inserted <= 0:
                break
    return codes


def _json_list(ids: list[int]) -> str:
    return "[" + ",".join(str(int(pk)) for pk in ids) + "]"


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
