"""What both redemption endpoints answer, ``POST /api/offers/redeem`` (``offers.views.redeem``) and
``POST /api/v1/offers/redeem`` (``api.rest.offers``): the HTTP status of each refusal and a
redemption as JSON."""

from offers.models import Redemption
from offers.services.redemption import RedemptionError

STATUS = {
    RedemptionError.UNKNOWN: 404,
    RedemptionError.REDEEMED: 409,
    RedemptionError.EXPIRED: 410,
    RedemptionError.AMBIGUOUS: 400,
    RedemptionError.INVALID: 400,
}


def redemption_data(redemption: Redemption) -> dict:
    return {
        "id": redemption.pk,
        "offer": redemption.offer_id,
        "code": redemption.coupon.code,
        "order": redemption.order_ref,
        "order_value": str(redemption.order_value) if redemption.order_value is not None else None,
        "currency": redemption.currency,
        "source": redemption.source,
        "redeemed_at": redemption.redeemed_at.isoformat(),
    }
