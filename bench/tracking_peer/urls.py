from django.http import Http404, HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_safe

from tracking import hits, tokens
from tracking_peer.models import PixelHit


@require_safe
def pixel(request, token: str):
    """Verify the token, INSERT one row, answer the GIF."""
    delivery_id = tokens.verify_open(token)
    if delivery_id is None:
        raise Http404
    PixelHit.objects.create(
        delivery_id=delivery_id,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        ip=request.META.get("REMOTE_ADDR") or None,
    )
    response = HttpResponse(hits.GIF, content_type="image/gif")
    response["Cache-Control"] = hits.NO_STORE
    return response


urlpatterns = [
    path("t/o/<str:token>", pixel),
    path("", include("newsletter_site.urls")),
]
