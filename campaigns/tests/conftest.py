"""Fixtures of the campaign tests that crash real processes."""

import pytest

from newsletter_site.tests.sinks import watching_sink_running


@pytest.fixture
def watching_sink(settings, monkeypatch):
    """A WatchingSink on loopback that announces PIPELINING; settings.EMAIL_PORT points at it."""
    with watching_sink_running(monkeypatch) as (handler, port):
        settings.EMAIL_PORT = port
        yield handler
