"""Giving one pool code to a person outside a mail (a referral reward).

The claim is one ``CouponAssignment`` row; its unique coupon is the last word, so a code never goes
to two people, whichever path (this one or sending) takes it. On PostgreSQL free codes are picked
with SKIP LOCKED, so claims at the same moment take different codes; on SQLite there is one writer.
"""

from django.db import IntegrityError, connection, transaction

from offers import selectors
from offers.models import CouponAssignment, Offer

ATTEMPTS = 5


def coupon_claim(*, offer: Offer, subscriber) -> CouponAssignment | None:
    """Assign one free code of ``offer``'s pool to ``subscriber``; None when the pool has none left
    (or the offer has no pool). Call it inside the transaction that records what the code is for."""
    if offer.code_source != Offer.CodeSource.POOL:
        return None
    for _attempt in range(ATTEMPTS):
        free = selectors.unused_coupons(offer=offer).order_by("pk")
        if connection.features.has_select_for_update_skip_locked:
            free = free.select_for_update(skip_locked=True)
        coupon = free.first()
        if coupon is None:
            return None
        try:
            with transaction.atomic():
                return CouponAssignment.objects.create(coupon=coupon, subscriber=subscriber)
        except IntegrityError:  # taken by a claim that committed after the look-up
            continue
    return None
