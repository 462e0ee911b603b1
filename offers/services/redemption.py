"""Redeeming a code: the one service behind the shop's API, the CSV upload and the admin action.

Idempotent by code: reporting the same redemption again (the same code, and the same order when
both name one) returns the row already stored. The database constraints on ``Redemption`` are the
last word: when two reports of one code race, one insert fails and the other's row is returned.
"""

import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from offers.models import Coupon, CouponAssignment, Offer, Redemption, code_key
from offers.signals import redemption_recorded
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


def _coupon_for(code: str, offer_id: int | None) -> Coupon:
    key = code_key(code) if isinstance(code, str) else ""
    if not key:
        raise RedemptionError(RedemptionError.INVALID, _("A code is required."))
    candidates = Coupon.objects.filter(lookup=key).select_related("offer")
    if offer_id is not None:
        candidates = candidates.filter(offer_id=offer_id)
    found = list(candidates[:10])
    if len(found) > 1:
        # The same text in several pools: prefer the one offer still running.
        running = [coupon for coupon in found if not coupon.offer.has_ended()]
        found = running if len(running) == 1 else found
    if not found:
        raise RedemptionError(RedemptionError.UNKNOWN, _("This code is unknown."))
    if len(found) > 1:
        raise RedemptionError(
            RedemptionError.AMBIGUOUS, _("This code belongs to several offers; name the offer as well.")
        )
    return found[0]


def _existing(coupon: Coupon, *, subscriber: Subscriber | None, order_ref: str) -> Redemption | None:
    redemptions = Redemption.objects.filter(coupon=coupon)
    if coupon.offer.code_source == Offer.CodeSource.POOL:
        return redemptions.first()
    if subscriber is not None:
        found = redemptions.filter(subscriber=subscriber).first()
        if found:
            return found
    return redemptions.filter(order_ref=order_ref).first() if order_ref else None


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
    coupon = _coupon_for(code, offer_id)
    offer = coupon.offer
    assignment = (
        CouponAssignment.objects.select_related("delivery__subscriber", "subscriber").filter(coupon=coupon).first()
    )
    if assignment is not None:
        # The code went to this delivery's reader (or, outside a mail, to this person): that
        # attribution beats an address from the shop.
        holder = assignment.delivery.subscriber if assignment.delivery else assignment.subscriber
        subscriber = holder or subscriber
    existing = _existing(coupon, subscriber=subscriber, order_ref=order_ref)
    if existing is not None:
        return _replay_or_conflict(existing, order_ref=order_ref)
    when = redeemed_at or timezone.now()
    if when >= offer.expires_at:
        raise RedemptionError(RedemptionError.EXPIRED, _("This offer ended on %(date)s.") % {"date": _date(offer)})
    shared = offer.code_source == Offer.CodeSource.SHARED
    if shared and subscriber is None and not order_ref:
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
        subscriber=subscriber,
        delivery=assignment.delivery if assignment else None,
    )
    try:
        redemption.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        raise RedemptionError(RedemptionError.INVALID, " ".join(error.messages)) from None
    if value is not None and not currency:
        raise RedemptionError(RedemptionError.INVALID, _("An order value needs its currency (e.g. EUR)."))
    try:
        with transaction.atomic():
            redemption.save()
    except IntegrityError:
        existing = _existing(coupon, subscriber=subscriber, order_ref=order_ref)
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
