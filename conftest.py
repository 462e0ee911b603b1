"""Fixtures every app's tests share: a real Redis, a real Celery worker, Anymail's test backend."""

import os

import pytest
from django.conf import settings

# Playwright's sync API keeps an event loop in the test thread; the ORM calls made next to it
# are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_configure(config):
    if settings.REDIS_EMBEDDED:
        from newsletter_site import redis_server

        redis_server.ensure_running_until_exit(settings.REDIS_SOCKET)


@pytest.fixture(autouse=True)
def _anymail_test_backend(settings, tmp_path):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    settings.MEDIA_ROOT = tmp_path / "media"
    private = settings.STORAGES["default"]
    if private["BACKEND"].endswith("FileSystemStorage"):
        options = {**private.get("OPTIONS", {}), "location": tmp_path / "private"}
        settings.STORAGES = {**settings.STORAGES, "default": {**private, "OPTIONS": options}}


@pytest.fixture(autouse=True)
def _empty_redis():
    """Rate-limit counters and queued tasks from one test must not leak into the next (the broker's
    queues are in the same Redis database, unless they are on RabbitMQ)."""
    from django.core.cache import cache

    cache.clear()
    if settings.BROKER_IS_AMQP:
        from newsletter_site.celery import app

        # A fresh connection, retried: a test may just have restarted RabbitMQ.
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=10)
            app.control.purge(connection=connection)
    yield


@pytest.fixture(autouse=True)
def _fresh_tracking_caches():
    """Link targets cached in process memory must not carry one test's ids into the next: the
    database hands the same ids out again after a rollback."""
    from tracking import event_queue
    from tracking.services import links

    def forget():
        event_queue.link_targets.clear()
        event_queue._breaker["open_until"] = 0.0
        links._anonymous_urls.clear()

    forget()
    yield
    forget()


@pytest.fixture
def celery_worker_thread(transactional_db):
    """A real Celery worker consuming from the real Redis broker, in a thread of this process."""
    from celery.contrib.testing.worker import start_worker

    from newsletter_site.celery import app

    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING", shutdown_timeout=10) as worker:
        yield worker


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (Playwright cannot download its own browser here)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; scripts/kanal.py test installs it in CI.")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-DE")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


class SinkHandler:
    """Collects every message a local SMTP server accepts."""

    def __init__(self):
        import threading

        self.lock = threading.Lock()
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"

    def recipients(self) -> list[str]:
        with self.lock:
            return [recipient for recipients, _content in self.messages for recipient in recipients]


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server on loopback (aiosmtpd); mails go to it through Django's SMTP backend."""
    from newsletter_site.tests.sinks import smtp_server

    handler = SinkHandler()
    with smtp_server(handler) as port:
        settings.EMAIL_BACKEND = "newsletter_site.smtp_backend.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = False
        yield handler


@pytest.fixture
def pipelining_sink(smtp_sink, monkeypatch):
    from newsletter_site.tests.sinks import announce_pipelining

    announce_pipelining(type(smtp_sink), monkeypatch)
    return smtp_sink


@pytest.fixture
def in_english(settings):
    """For tests that read English wording: the active language, and what every test client's
    request falls back to without an Accept-Language header (the site's default is German)."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
