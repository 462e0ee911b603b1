"""A lean WSGI path for the pixel and click URLs, in front of Django's full application.

The tracking endpoints need no session, CSRF, locale, authentication or message middleware, and
their answers do not depend on the Host header (redirect targets come from the database). This
wrapper answers ``/t/o/…`` and ``/t/c/…`` itself with the same code as the Django views
(``tracking.hits``) and passes every other request to Django unchanged::

    application = TrackingFastPath(get_wsgi_application())
"""

import logging

from django.db import close_old_connections, connection

from tracking import hits, tokens

logger = logging.getLogger(__name__)

NOT_FOUND_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "0"), ("Cache-Control", hits.NO_STORE)]
STATUS_LINES = {
    200: "200 OK",
    204: "204 No Content",
    302: "302 Found",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
}


class TrackingFastPath:
    def __init__(self, application):
        self.application = application

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
            start_response(STATUS_LINES[405], [("Allow", "GET, HEAD"), *NOT_FOUND_HEADERS])
            return [b""]
        facts = {
            "head": method == "HEAD",
            "user_agent": environ.get("HTTP_USER_AGENT", ""),
            "ip": environ.get("REMOTE_ADDR", ""),
        }
        try:
            status, headers, body = handler(token, facts)
        except Exception:
            logger.exception("Tracking endpoint failed")
            status, headers, body = 500, NOT_FOUND_HEADERS, b""
        finally:
            # The database is touched only on a cold link cache or with Redis down; treat its
            # connection as Django does at the end of a request (not inside a test's transaction).
            if not connection.in_atomic_block:
                close_old_connections()
        start_response(STATUS_LINES[status], headers)
        return [b""] if facts["head"] else [body]

    @staticmethod
    def pixel(token, facts):
        if not hits.pixel_hit(token=token, **facts):
            return 404, NOT_FOUND_HEADERS, b""
        return 200, hits.PIXEL_HEADERS, hits.GIF

    @staticmethod
    def click(token, facts):
        outcome, location = hits.click_hit(token=token, **facts)
        if outcome is hits.Click.NOT_FOUND:
            return 404, NOT_FOUND_HEADERS, b""
        headers = list(NOT_FOUND_HEADERS)
        if outcome is hits.Click.REDIRECT:
            headers.append(("Location", location))
        return outcome.value, headers, b""
