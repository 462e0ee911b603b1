"""``/api/v1/offers/redeem``: the shop reports a code used in an order, through the same service and
status codes as ``POST /api/offers/redeem`` (``offers.views.redeem``), with the v1 problems."""

from ninja import Router

from api.rest.auth import OFFERS_REDEEM
from api.rest.idempotency import idempotent
from api.rest.problems import Problem
from api.rest.schemas import PROBLEMS, ProblemOut, RedeemIn, RedeemOut
from offers.answers import STATUS, redemption_data
from offers.models import Redemption
from offers.services.redemption import RedemptionError, offer_redeem
from subscribers.models import Subscriber

router = Router(tags=["offers"])


@router.post(
    "/redeem",
    response={200: RedeemOut, 201: RedeemOut, 410: ProblemOut, **PROBLEMS},
    auth=OFFERS_REDEEM,
    summary="Report that a coupon code was used in an order",
    description="201 with the new redemption; 200 with the stored one when the same code and order come "
    "again (a replay, also without an Idempotency-Key). Problems carry `code`: unknown (404), redeemed "
    "with another order (409), expired (410), ambiguous or invalid (400). A shared code needs `order` or "
    "the subscriber's `email`.",
)
def offer_redeem_endpoint(request, payload: RedeemIn):
    def action():
        subscriber = Subscriber.objects.filter(email=payload.email).first() if payload.email else None
        try:
            outcome = offer_redeem(
                code=payload.code,
                source=Redemption.Source.API,
                order_value=payload.order_value,
                currency=payload.currency,
                order_ref=payload.order,
                offer_id=payload.offer,
                subscriber=subscriber,
            )
        except RedemptionError as error:
            raise Problem(STATUS[error.kind], str(error), extra={"code": error.kind}) from error
        body = {"redemption": redemption_data(outcome.redemption), "created": outcome.created}
        return (201 if outcome.created else 200), body

    return idempotent(request, action)
