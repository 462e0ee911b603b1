"""Fixtures the campaign tests share."""

import pytest

from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.tests.sinks import watching_sink_running
from subscribers.tests.factories import MailingListFactory


@pytest.fixture
def news():
    return MailingListFactory(name="News")


@pytest.fixture
def campaign(news):
    """A newsletter of one article to the list ``news``."""
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    return campaign


@pytest.fixture
def watching_sink(settings, monkeypatch):
    """A WatchingSink on loopback that announces PIPELINING; settings.EMAIL_PORT points at it."""
    with watching_sink_running(monkeypatch) as (handler, port):
        settings.EMAIL_PORT = port
        yield handler
