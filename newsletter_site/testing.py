"""Helpers for tests of every app (kept out of any one app's ``tests`` package)."""

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils.datastructures import CaseInsensitiveMapping

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.05,
    message: str = "",
    raise_on_timeout: bool = True,
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy; return that.

    After ``timeout`` seconds raise an AssertionError naming what was awaited (``message``, else the
    condition's repr) and the last value seen. With ``raise_on_timeout=False`` return that last value
    instead, for a test that goes on either way and judges the outcome itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        remaining = deadline - time.monotonic()
        if value or remaining <= 0:
            break
        time.sleep(min(interval, remaining))
    if not value and raise_on_timeout:
        raise AssertionError(f"waited {timeout:g} s for {message or repr(condition)}; last value: {value!r}")
    return value


def staff_login(client, *permissions: str):
    """A staff user holding ``permissions`` ("app_label.codename"), logged in on the test ``client``."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user("staff", "staff@example.org", is_staff=True)
    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client.force_login(user)
    return user


def browser_login(page, base_url: str, *, username: str, password: str, next_path: str = "/admin/dashboard/"):
    """Log in through the admin's login form in a Playwright ``page`` and wait for ``next_path``."""
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base_url}{next_path}")


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[ThreadingHTTPServer]:
    """Serve ``handler`` on 127.0.0.1 (a free port) in a thread, without access logs or tracebacks
    of clients that hung up. ``handler.server`` is the yielded server."""

    class Quiet(handler):
        def log_message(self, format, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    httpd.daemon_threads = True
    httpd.handle_error = lambda request, client_address: None
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


class LeanResponse:
    """What a WSGI application answered, read like a test client's response."""

    def __init__(self, status: str, headers: list, body: bytes):
        self.status_code = int(status.split()[0])
        self.headers = CaseInsensitiveMapping(dict(headers))
        self.content = body

    def __getitem__(self, name):
        return self.headers[name]

    def __contains__(self, name):
        return name in self.headers

    @property
    def text(self) -> str:
        return self.content.decode()

    def json(self):
        return json.loads(self.content)


class LeanClient:
    """Requests through a WSGI application (the production one, ``newsletter_site.wsgi``, whose
    machine endpoints skip Django's middleware), called like Django's test client."""

    def __init__(self, application):
        self.application = application

    def request(self, method, path, data=b"", content_type="", secure=False, **extra):
        body = data.encode() if isinstance(data, str) else data
        path, _sep, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": query,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "443" if secure else "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "testserver",
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.url_scheme": "https" if secure else "http",
            **extra,
        }
        answer = {}

        def start_response(status, headers):
            answer.update(status=status, headers=headers)

        # As Django's test client does: requests that reach Django's handler must not close the
        # test's connection (request_started/finished -> close_old_connections).
        for signal in (request_started, request_finished):
            signal.disconnect(close_old_connections)
        try:
            content = b"".join(self.application(environ, start_response))
        finally:
            for signal in (request_started, request_finished):
                signal.connect(close_old_connections)
        return LeanResponse(answer["status"], answer["headers"], content)

    def post(self, path, data=b"", content_type="", **extra):
        return self.request("POST", path, data, content_type, **extra)

    def patch(self, path, data=b"", content_type="", **extra):
        return self.request("PATCH", path, data, content_type, **extra)

    def put(self, path, data=b"", content_type="", **extra):
        return self.request("PUT", path, data, content_type, **extra)

    def get(self, path, **extra):
        return self.request("GET", path, **extra)
