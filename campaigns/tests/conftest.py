"""Fixtures of the campaign tests that crash real processes."""

import socket

import pytest

from newsletter_site.tests.sinks import WatchingSink, announce_pipelining


@pytest.fixture
def watching_sink(settings, monkeypatch):
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = WatchingSink()
    announce_pipelining(WatchingSink, monkeypatch)  # the path Kanal takes with Postfix and ESP relays
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_PORT = port
    yield handler
    controller.stop()
