"""Helpers for tests of every app (kept out of any one app's ``tests`` package)."""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

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
