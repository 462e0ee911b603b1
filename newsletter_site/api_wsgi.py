"""A lean WSGI path for machine endpoints (the shop's ``POST /api/offers/redeem``), in front of
Django's full application.

A call authenticated by an API key needs no session, CSRF, authentication, message or
clickjacking middleware, and no URL resolving; together they cost about as much as the view's
own work. This wrapper hands the request for one of ``views``' exact paths straight to its view
(the same function the URLconf names, so behaviour and tests are shared) and passes every other
request to ``application`` unchanged. A key ``"POST /api/v1/subscribers/"`` takes only that
method; the path's other methods (the listing's GET) go to ``application``.
``newsletter_site.wsgi`` wires it in.

A request whose ``Host`` is not in ``ALLOWED_HOSTS`` goes to the full application too, which
refuses it as for every other page: the rule stays Django's.

What the skipped middleware would do that matters for these answers is done here: the language
from ``Accept-Language`` (refusals are translated), ``X-Content-Type-Options`` and, on a secure
request, ``Strict-Transport-Security``. A plain-HTTP request while ``SECURE_SSL_REDIRECT`` is on
goes to the full application, which redirects it as before.
"""

import logging

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import connections
from django.http import JsonResponse
from django.utils import translation
from django.utils.translation import gettext

logger = logging.getLogger(__name__)


def _hsts_header() -> str:
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return value


class ApiFastPath:
    """WSGI middleware: ``views`` (exact path, or "METHOD path", -> view function) answered here, the
    rest by ``application``."""

    def __init__(self, application, views: dict):
        self.application = application
        self.views = dict(views)
        # Read once: no settings lookups on the hot path.
        self.ssl_redirect = settings.SECURE_SSL_REDIRECT
        self.hsts = _hsts_header() if settings.SECURE_HSTS_SECONDS else ""

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        view = self.views.get(path) or self.views.get(f"{environ.get('REQUEST_METHOD', '')} {path}")
        if view is None:
            return self.application(environ, start_response)
        request = WSGIRequest(environ)
        secure = request.is_secure()
        if self.ssl_redirect and not secure:
            return self.application(environ, start_response)
        try:
            request.get_host()
        except DisallowedHost:
            return self.application(environ, start_response)
        translation.activate(translation.get_language_from_request(request))
        try:
            response = view(request)
        except Exception:
            logger.exception("API endpoint %s failed", request.path)
            response = JsonResponse(
                {"type": "about:blank", "status": 500, "code": "error", "detail": gettext("Internal error.")},
                status=500,
                content_type="application/problem+json",
            )
        finally:
            translation.deactivate()
            close_used_connections()
        response.setdefault("X-Content-Type-Options", "nosniff")
        if secure and self.hsts:
            response.setdefault("Strict-Transport-Security", self.hsts)
        status = f"{response.status_code} {response.reason_phrase}"
        start_response(status, list(response.items()))
        return [response.content]


def close_used_connections() -> None:
    """What Django does at the end of a request, for the connections this thread opened. A
    connection inside a transaction (a test's) is left alone."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
