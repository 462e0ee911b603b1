"""Segment conditions on coupon codes and redemptions, registered in ``OffersConfig.ready()``.

A redemption is what a person did with a code that names them, reported by the shop: like an
answer or a click it is read only for subscribers with tracking consent (``needs_consent``; see
docs/architecture.md, "Offers in segments, analytics and automations"). It is not a tracking event
and carries no machine label, so these kinds have no ``include_machine`` parameter.
"""

from datetime import timedelta

from django.db.models import DateTimeField, Exists, ExpressionWrapper, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audience.conditions import INT, REF, ConditionKind, Group, Param, register
from offers.models import Offer, Redemption
from offers.selectors import codes_given

REDEEMED_OFFER, NOT_REDEEMED_WITHIN = "redeemed_offer", "offer_not_redeemed_within"


def offer_param() -> Param:
    return Param("offer", _("offer"), REF, queryset=lambda: Offer.objects.order_by("-expires_at", "-pk"))


def _redeemed(params: dict) -> Q:
    return Q(Exists(Redemption.objects.filter(subscriber=OuterRef("pk"), offer_id=params["offer"])))


def _not_redeemed_within(params: dict) -> Q:
    days = timedelta(days=params["days"])
    window_end = ExpressionWrapper(OuterRef("assigned_at") + days, output_field=DateTimeField())
    in_time = Redemption.objects.filter(
        subscriber=OuterRef(OuterRef("pk")), offer_id=params["offer"], redeemed_at__lte=window_end
    )
    # Only codes whose N days are over: a code given yesterday has not yet "not been redeemed in a week".
    given = codes_given(offer_id=params["offer"]).filter(
        delivery__subscriber=OuterRef("pk"), assigned_at__lte=timezone.now() - days
    )
    return Q(Exists(given.filter(~Exists(in_time))))


def register_offer_kinds() -> None:
    common = {"group": Group.OFFERS, "needs_consent": True, "cost": 2}
    register(
        ConditionKind(key=REDEEMED_OFFER, label=_("redeemed an offer"), params=(offer_param(),), q=_redeemed, **common)
    )
    register(
        ConditionKind(
            key=NOT_REDEEMED_WITHIN,
            label=_("was given a code of an offer and did not redeem it within days"),
            params=(offer_param(), Param("days", _("days"), INT, min_value=1, max_value=3650)),
            q=_not_redeemed_within,
            help_text=_(
                "Unique codes from a pool only: a shared code is given to nobody in particular. "
                "Counts codes whose mail was sent at least that many days ago."
            ),
            **common,
        )
    )
