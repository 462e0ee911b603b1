"""The open pixel and the click redirect: the hottest URLs of Kanal, so they stay this small."""

from django.http import HttpResponse, HttpResponseNotFound
from django.views.decorators.http import require_safe

from newsletter_site.client_ip import client_ip
from tracking import hits


def _request_facts(request) -> dict:
    return {
        "head": request.method == "HEAD",
        "user_agent": request.META.get("HTTP_USER_AGENT", ""),
        "ip": client_ip(request) or "",
    }


def _not_found() -> HttpResponse:
    response = HttpResponseNotFound(b"", content_type="text/plain")
    response["Cache-Control"] = hits.NO_STORE
    return response


@require_safe
def pixel(request, token: str):
    """A 43-byte transparent GIF for every valid token; 404 and nothing recorded otherwise."""
    if not hits.pixel_hit(token=token, **_request_facts(request)):
        return _not_found()
    response = HttpResponse(hits.GIF)
    for header, value in hits.PIXEL_HEADERS:
        response[header] = value
    return response


@require_safe
def click(request, token: str):
    """302 to the stored URL of the token's link; never to anything the request says."""
    outcome, location = hits.click_hit(token=token, **_request_facts(request))
    if outcome is hits.Click.NOT_FOUND:
        return _not_found()
    response = HttpResponse(status=outcome.value, content_type="text/plain")
    response["Cache-Control"] = hits.NO_STORE
    if outcome is hits.Click.REDIRECT:
        # Set directly: HttpResponseRedirect refuses mailto:, which articles may link to.
        response["Location"] = location
    return response
