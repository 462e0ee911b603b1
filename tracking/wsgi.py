"""A lean WSGI path for the pixel and click URLs, in front of Django's full application.

The tracking endpoints need no session, CSRF, locale, authentication or message middleware, and
their answers do not depend on the Host header (redirect targets come from the database). This
wrapper answers ``/t/o/…`` and ``/t/c/…`` itself with the same code as the Django views
(``tracking.hits``: same token checks, same events, 404 and nothing written for a bad token) and
passes every other request to Django unchanged. ``newsletter_site.wsgi`` wires it in::

    application = TrackingFastPath(get_wsgi_application())

The headers Django's security middleware would add that matter for these answers are sent too:
``X-Content-Type-Options`` on every answer, ``Referrer-Policy`` on redirects.
"""

import logging

from django.conf import settings

from newsletter_site.api_wsgi import close_used_connections
from newsletter_site.client_ip import client_ip_from_environ
from tracking import hits, tokens

logger = logging.getLogger(__name__)

NOSNIFF = ("X-Content-Type-Options", "nosniff")
EMPTY_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "0"), ("Cache-Control", hits.NO_STORE), NOSNIFF]
NOT_FOUND_HEADERS = EMPTY_HEADERS
STATUS_LINES = {
    200: "200 OK",
    204: "204 No Content",
    302: "302 Found",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}
METHOD_NOT_ALLOWED_HEADERS = [("Allow", "GET, HEAD"), *EMPTY_HEADERS]


def _referrer_policy() -> list[tuple[str, str]]:
    policy = settings.SECURE_REFERRER_POLICY
    if not policy:
        return []
    return [("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy))]


class TrackingFastPath:
    """WSGI middleware: tracking URLs answered here, everything else by ``application``."""

    def __init__(self, application):
        self.application = application
        # Read once: no settings lookups on the hot path.
        self.redirect_headers = [*EMPTY_HEADERS, *_referrer_policy()]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(tokens.OPEN_PATH):
            handler, token = self.pixel, path[len(tokens.OPEN_PATH) :]
        elif path.startswith(tokens.CLICK_PATH):
            handler, token = self.click, path[len(tokens.CLICK_PATH) :]
        else:
            return self.application(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            start_response(STATUS_LINES[405], METHOD_NOT_ALLOWED_HEADERS)
            return [b""]
        head = method == "HEAD"
        try:
            status, headers, body = handler(
                token=token,
                head=head,
                user_agent=environ.get("HTTP_USER_AGENT", ""),
                ip=client_ip_from_environ(environ) or "",
            )
        except Exception:
            logger.exception("Tracking endpoint failed")
            status, headers, body = 500, EMPTY_HEADERS, b""
        finally:
            close_used_connections()
        start_response(STATUS_LINES[status], headers)
        return [b""] if head else [body]

    @staticmethod
    def pixel(**facts):
        if not hits.pixel_hit(**facts):
            return 404, NOT_FOUND_HEADERS, b""
        return 200, hits.PIXEL_HEADERS, hits.GIF

    def click(self, **facts):
        outcome, location = hits.click_hit(**facts)
        if outcome is hits.Click.REDIRECT:
            return 302, [*self.redirect_headers, ("Location", location)], b""
        if outcome is hits.Click.NOT_FOUND:
            return 404, NOT_FOUND_HEADERS, b""
        return outcome.value, EMPTY_HEADERS, b""
