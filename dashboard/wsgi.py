"""``/healthz`` and ``/metrics``, answered in front of Django's middleware (``newsletter_site.wsgi``).

Load balancers and Prometheus reach a web process by its address, over plain HTTP: through
Django, ``ALLOWED_HOSTS`` would refuse their Host header and ``SECURE_SSL_REDIRECT`` would send
them to https. Neither answer is built from the request (no URL, no redirect), carries a secret
or an address, or changes anything, so the Host header and the scheme do not matter here.
``/metrics`` answers only with the bearer token ``KANAL_METRICS_TOKEN``; without the setting the
path goes to Django like any unknown URL (404).
"""

import hmac
import json

from django.conf import settings

from dashboard import health, metrics
from newsletter_site.api_wsgi import close_used_connections

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
COMMON_HEADERS = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")]
METHOD_NOT_ALLOWED = ("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Length", "0"), *COMMON_HEADERS])


def health_body() -> tuple[bool, bytes]:
    checks = health.web_checks()
    healthy = all(checks.values())
    body = {
        "status": "ok" if healthy else "fail",
        "checks": {name: "ok" if ok else "fail" for name, ok in checks.items()},
    }
    return healthy, json.dumps(body).encode()


def bearer_token_valid(environ) -> bool:
    token = settings.KANAL_METRICS_TOKEN
    given = environ.get("HTTP_AUTHORIZATION", "")
    return given.startswith("Bearer ") and hmac.compare_digest(given[len("Bearer ") :].encode(), token.encode())


class OpsFastPath:
    """WSGI middleware: ``/healthz`` and ``/metrics`` answered here, everything else by ``application``."""

    def __init__(self, application):
        self.application = application

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == HEALTH_PATH:
            handler = self.health
        elif path == METRICS_PATH and settings.KANAL_METRICS_TOKEN:
            handler = self.metrics
        else:
            return self.application(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            start_response(*METHOD_NOT_ALLOWED)
            return [b""]
        try:
            status, headers, body = handler(environ)
        finally:
            close_used_connections()
        start_response(status, [*headers, ("Content-Length", str(len(body))), *COMMON_HEADERS])
        return [b""] if method == "HEAD" else [body]

    @staticmethod
    def health(environ):
        healthy, body = health_body()
        return "200 OK" if healthy else "503 Service Unavailable", [("Content-Type", "application/json")], body

    @staticmethod
    def metrics(environ):
        if not bearer_token_valid(environ):
            return "401 Unauthorized", [("WWW-Authenticate", "Bearer")], b""
        return "200 OK", [("Content-Type", metrics.CONTENT_TYPE)], metrics.metrics_text()
