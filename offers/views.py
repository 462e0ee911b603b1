"""Public pages of offers: the offer link from mails, and the shop's redemption endpoint."""

import json

from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from api.services import ApiKeyError, api_key_authenticate
from campaigns.models import Delivery
from newsletter_site.i18n import activate_reader_language
from offers import tokens
from offers.answers import STATUS, redemption_data
from offers.models import Offer, Redemption
from offers.services.redemption import RedemptionError, offer_redeem
from subscribers.models import Subscriber, normalise_email

REDEEM_SCOPE = "offers:redeem"


@require_safe
@never_cache
def offer_link(request, token):
    """While the offer runs, on to its landing page; afterwards the "offer ended" page, with the
    successor's link when there is one. Reads only: scanners open every link in a mail."""
    ids = tokens.read_link_token(token)
    offer = Offer.objects.select_related("successor").filter(pk=ids[0]).first() if ids else None
    if offer is None:
        raise Http404(_("This link is not valid. Please use the link from your mail."))
    if not offer.has_ended():
        return HttpResponseRedirect(offer.landing_url)
    delivery_id = ids[1]
    if delivery_id:
        language = Delivery.objects.filter(pk=delivery_id).values_list("campaign__language", flat=True).first()
        if language:
            activate_reader_language(request, language)
    successor = offer.successor
    successor_url = None
    if successor is not None and not successor.has_ended():
        successor_url = tokens.offer_url(offer_id=successor.pk, delivery_id=delivery_id)
    return render(
        request, "offers/ended.html", {"offer": offer, "successor": successor, "successor_url": successor_url}
    )


# The shop's endpoint -----------------------------------------------------------------------------


def problem(status: int, code: str, detail: str) -> JsonResponse:
    """An RFC 9457 problem details answer; ``code`` is the machine-readable reason."""
    response = JsonResponse(
        {"type": "about:blank", "status": status, "code": code, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="kanal"'
    return response


def _field(data: dict, name: str, kind=str):
    value = data.get(name)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise RedemptionError(RedemptionError.INVALID, _("The field %(name)s has the wrong type.") % {"name": name})


@csrf_exempt
@require_POST
def redeem(request):
    """POST JSON ``{"code": …, "order": …, "order_value": …, "currency": …, "email": …, "offer": …}``
    with ``Authorization: Bearer <key>`` (scope ``offers:redeem``): 200 with the redemption, also
    for a replay; 4xx problem details otherwise."""
    try:
        api_key_authenticate(authorization=request.headers.get("Authorization", ""), scope=REDEEM_SCOPE)
    except ApiKeyError as error:
        return problem(error.status, "unauthorized" if error.status == 401 else "forbidden", str(error))
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return problem(400, "invalid", _("The request body must be JSON."))
    if not isinstance(data, dict):
        return problem(400, "invalid", _("The request body must be a JSON object."))
    try:
        code = _field(data, "code")
        email = normalise_email(_field(data, "email") or "")
        outcome = offer_redeem(
            code=code or "",
            source=Redemption.Source.API,
            order_value=data.get("order_value"),
            currency=_field(data, "currency") or "",
            order_ref=_field(data, "order") or "",
            offer_id=_field(data, "offer", int),
            subscriber=Subscriber.objects.filter(email=email).first() if email else None,
        )
    except RedemptionError as error:
        return problem(STATUS[error.kind], error.kind, str(error))
    return JsonResponse({"redemption": redemption_data(outcome.redemption), "created": outcome.created})
