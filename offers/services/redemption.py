"""Redeeming a code: the one service behind the shop's API, the CSV upload and the admin action.

Idempotent by code: reporting the same redemption again (the same code, and the same order when
both name one) returns the row already stored. The database constraints on ``Redemption`` are the
last word: when two reports of one code race, one insert fails and the other's row is returned.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from campaigns.models import Delivery
from newsletter_site.raw_rows import RowReader, select_list, table
from offers.models import Coupon, CouponAssignment, Offer, Redemption, code_key
from offers.signals import redemption_recorded, redemption_stored
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)


class RedemptionError(Exception):
    """Why a code cannot be redeemed. ``kind`` is machine-readable; the message is translated."""

    UNKNOWN, EXPIRED, REDEEMED, AMBIGUOUS, INVALID = "unknown", "expired", "redeemed", "ambiguous", "invalid"

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Outcome:
    redemption: Redemption
    created: bool  # False for a replay


def parse_order_value(value) -> Decimal | None:
    """An order value from JSON or CSV (number or text, "12,50" too), or RedemptionError."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise RedemptionError(RedemptionError.INVALID, _("The order value must be a number."))
    try:
        amount = Decimal(str(value).strip().replace(",", ".")) if isinstance(value, str) else Decimal(str(value))
    except InvalidOperation:
        raise RedemptionError(RedemptionError.INVALID, _("The order value must be a number.")) from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 10:
        raise RedemptionError(RedemptionError.INVALID, _("The order value must be a number."))
    return amount.quantize(Decimal("0.01"))


# The reads every call makes are hand-written SQL: compiling the ORM's queries cost several times
# more than running them (docs/benchmarks.md, bench/offers.py).


@dataclass(frozen=True)
class _Found:
    coupon: Coupon  # with its offer
    assignment: CouponAssignment | None  # with its delivery's id and subscriber
    redemption: Redemption | None  # a pool code's unique redemption, read with it (a replay)


@cache
def _coupon_query(by_offer: bool) -> tuple[str, tuple[RowReader, ...]]:
    delivery_fields = ["id", "subscriber"]
    sql = (
        f"SELECT {select_list(Coupon, 'c')}, {select_list(Offer, 'o')}, {select_list(CouponAssignment, 'a')}, "  # noqa: S608
        f"{select_list(Delivery, 'd', delivery_fields)}, {select_list(Redemption, 'r')} "
        f"FROM {table(Coupon)} c JOIN {table(Offer)} o ON o.id = c.offer_id "
        f"LEFT JOIN {table(CouponAssignment)} a ON a.coupon_id = c.id "
        f"LEFT JOIN {table(Delivery)} d ON d.id = a.delivery_id "
        # At most one row: the unique constraint offers_redemption_once_per_unique_code.
        f"LEFT JOIN {table(Redemption)} r ON r.coupon_id = c.id AND r.shared = %s AND o.code_source = %s "
        f"WHERE c.lookup = %s{' AND c.offer_id = %s' if by_offer else ''} LIMIT 10"
    )
    readers = (
        RowReader(Coupon),
        RowReader(Offer),
        RowReader(CouponAssignment),
        RowReader(Delivery, fields=delivery_fields),
        RowReader(Redemption),
    )
    return sql, readers


def _coupons(key: str, offer_id: int | None) -> list[_Found]:
    """Coupons with this lookup key, each with its offer, (for a given pool code) its assignment
    and the assignment's delivery, and (for a redeemed pool code) its redemption: one query."""
    sql, (coupons, offers, assignments, deliveries, redemptions) = _coupon_query(offer_id is not None)
    params = [False, Offer.CodeSource.POOL.value, key] + ([] if offer_id is None else [offer_id])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found = []
    for row in rows:
        start = 0
        coupon = coupons.read(row, start)
        coupon.offer = offers.read(row, start := start + coupons.width)
        assignment = assignments.read(row, start := start + offers.width)
        delivery = deliveries.read(row, start := start + assignments.width)
        redemption = redemptions.read(row, start + deliveries.width)
        if assignment is not None:
            assignment.coupon = coupon
            if delivery is not None:
                assignment.delivery = delivery
        if redemption is not None:
            redemption.coupon = coupon  # the answer shows its code: no second read
        found.append(_Found(coupon, assignment, redemption))
    return found


def _coupon_for(code: str, offer_id: int | None) -> _Found:
    key = code_key(code) if isinstance(code, str) else ""
    if not key:
        raise RedemptionError(RedemptionError.INVALID, _("A code is required."))
    found = _coupons(key, offer_id)
    if len(found) > 1:
        # The same text in several pools: prefer the one offer still running.
        running = [each for each in found if not each.coupon.offer.has_ended()]
        found = running if len(running) == 1 else found
    if not found:
        raise RedemptionError(RedemptionError.UNKNOWN, _("This code is unknown."))
    if len(found) > 1:
        raise RedemptionError(
            RedemptionError.AMBIGUOUS, _("This code belongs to several offers; name the offer as well.")
        )
    return found[0]


@cache
def _redemption_query(column: str | None) -> tuple[str, RowReader]:
    also = f" AND r.{column} = %s" if column else ""
    sql = (
        f"SELECT {select_list(Redemption, 'r')} FROM {table(Redemption)} r "  # noqa: S608
        f"WHERE r.coupon_id = %s{also} ORDER BY r.redeemed_at DESC LIMIT 1"
    )
    return sql, RowReader(Redemption)


def _redemption(coupon: Coupon, column: str | None = None, value=None) -> Redemption | None:
    sql, reader = _redemption_query(column)
    with connection.cursor() as cursor:
        cursor.execute(sql, [coupon.pk] if column is None else [coupon.pk, value])
        row = cursor.fetchone()
    if row is None:
        return None
    found = reader.read(row)
    found.coupon = coupon  # the answer shows its code: no second read
    return found


def _existing(coupon: Coupon, *, subscriber_id: int | None, order_ref: str) -> Redemption | None:
    if coupon.offer.code_source == Offer.CodeSource.POOL:
        return _redemption(coupon)
    found = _redemption(coupon, "subscriber_id", subscriber_id) if subscriber_id is not None else None
    if found is None and order_ref:
        found = _redemption(coupon, "order_ref", order_ref)
    return found


def _replay_or_conflict(existing: Redemption, *, order_ref: str) -> Outcome:
    if order_ref and existing.order_ref and existing.order_ref != order_ref:
        raise RedemptionError(RedemptionError.REDEEMED, _("This code has already been redeemed with another order."))
    return Outcome(existing, created=False)


def offer_redeem(
    *,
    code: str,
    source: str,
    order_value=None,
    currency: str = "",
    order_ref: str = "",
    offer_id: int | None = None,
    subscriber: Subscriber | None = None,
    redeemed_at=None,
) -> Outcome:
    """Record that ``code`` was used in the shop, or RedemptionError (unknown, expired, already
    redeemed with another order, ambiguous, invalid input).

    A pool code is redeemed once; its subscriber and delivery come from its assignment when it has
    one. A shared code is redeemed once per subscriber and once per order, so it needs at least one
    of them. A replay is recognised before the deadline check: a late retry of an order that was
    accepted in time still gets its redemption back.
    """
    if source not in Redemption.Source.values:
        raise ValueError(f"Unknown redemption source {source!r}")
    order_ref = (order_ref or "").strip()
    currency = (currency or "").strip().upper()
    value = parse_order_value(order_value)
    found = _coupon_for(code, offer_id)
    coupon, assignment, offer = found.coupon, found.assignment, found.coupon.offer
    subscriber_id = subscriber.pk if subscriber is not None else None
    if assignment is not None:
        # The code went to this delivery's reader (or, outside a mail, to this person): that
        # attribution beats an address from the shop.
        holder_id = assignment.delivery.subscriber_id if assignment.delivery else assignment.subscriber_id
        subscriber_id = holder_id or subscriber_id
    existing = found.redemption or _existing(coupon, subscriber_id=subscriber_id, order_ref=order_ref)
    if existing is not None:
        return _replay_or_conflict(existing, order_ref=order_ref)
    when = redeemed_at or timezone.now()
    if when >= offer.expires_at:
        raise RedemptionError(RedemptionError.EXPIRED, _("This offer ended on %(date)s.") % {"date": _date(offer)})
    shared = offer.code_source == Offer.CodeSource.SHARED
    if shared and subscriber_id is None and not order_ref:
        raise RedemptionError(RedemptionError.INVALID, _("A shared code needs the order or the subscriber's address."))
    redemption = Redemption(
        offer=offer,
        coupon=coupon,
        shared=shared,
        order_ref=order_ref,
        order_value=value,
        currency=currency,
        source=source,
        redeemed_at=when,
        subscriber_id=subscriber_id,
        delivery=assignment.delivery if assignment else None,
    )
    try:
        # The related rows were just read, so their existence is not checked again (four queries
        # less); the database's foreign keys still have the last word.
        redemption.full_clean(
            exclude=["offer", "coupon", "subscriber", "delivery"], validate_unique=False, validate_constraints=False
        )
    except ValidationError as error:
        raise RedemptionError(RedemptionError.INVALID, " ".join(error.messages)) from None
    if value is not None and not currency:
        raise RedemptionError(RedemptionError.INVALID, _("An order value needs its currency (e.g. EUR)."))
    try:
        with transaction.atomic():
            redemption.save()
            redemption_stored.send(sender=Redemption, redemption=redemption)
    except IntegrityError:
        existing = _existing(coupon, subscriber_id=subscriber_id, order_ref=order_ref)
        if existing is None:
            raise
        return _replay_or_conflict(existing, order_ref=order_ref)
    transaction.on_commit(lambda: _announce(redemption))
    # No pool check queued here: the shop may report a thousand redemptions a second, and a
    # redeemed code was usually assigned (so no longer left) before; the beat's check_pools sees the rest.
    return Outcome(redemption, created=True)


def _announce(redemption: Redemption) -> None:
    for receiver, result in redemption_recorded.send_robust(sender=Redemption, redemption=redemption):
        if isinstance(result, Exception):
            logger.error("Redemption %s: receiver %r failed", redemption.pk, receiver, exc_info=result)


def _date(offer: Offer) -> str:
    return date_format(timezone.localtime(offer.expires_at), "DATETIME_FORMAT")
