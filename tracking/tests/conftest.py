"""Tracking fixtures: a sent campaign with registered links, readers with and without consent, and
helpers that hit the endpoints and run the batcher the way production does."""

from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from campaigns.rendering import compile_campaign
from tracking import event_queue
from tracking.services import campaign_links_register, links
from tracking.services.events import events_process
from tracking.tests.factories import ArticleFactory, CampaignFactory, DeliveryFactory, SubscriberFactory

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@pytest.fixture
def campaign(db):
    campaign = CampaignFactory(name="November", status="sent")
    ArticleFactory(campaign=campaign, position=0, headline="Erster", link_url="https://example.org/eins", body="")
    ArticleFactory(
        campaign=campaign,
        position=1,
        headline="Zweiter",
        link_url="https://example.org/zwei",
        body="Mehr [hier](https://example.org/zwei-mehr) und [dort](mailto:redaktion@example.org).",
    )
    compiled = compile_campaign(campaign)
    link_ids = campaign_links_register(campaign=campaign, compiled=compiled)
    return SimpleNamespace(campaign=campaign, compiled=compiled, link_ids=link_ids)


@pytest.fixture
def reader(campaign):
    """A subscriber who agreed to individual tracking, and their delivery of the campaign."""
    return DeliveryFactory(campaign=campaign.campaign, subscriber=SubscriberFactory(tracking_consent=True))


@pytest.fixture
def private_reader(campaign):
    """A subscriber who did not agree to tracking."""
    return DeliveryFactory(campaign=campaign.campaign, subscriber=SubscriberFactory(tracking_consent=False))


def urls_for(campaign, delivery):
    return links.tracking_urls_for(
        delivery_id=delivery.pk,
        campaign_id=campaign.campaign.pk,
        subscriber_tracking_consent=delivery.subscriber.tracking_consent,
        link_ids=campaign.link_ids,
    )


def path_of(url: str) -> str:
    return urlsplit(url).path


def hit(client, url: str, *, method: str = "get", user_agent: str = BROWSER, ip: str = "203.0.113.7"):
    return getattr(client, method)(path_of(url), HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)


def queued() -> list[bytes]:
    connection = event_queue.client(purpose="batcher")
    return connection.lrange(event_queue.QUEUE_KEY, 0, -1) + connection.lrange(event_queue.PROCESSING_KEY, 0, -1)


def process(*, later: timedelta = timedelta(minutes=10)):
    """Run the batcher as if it ran ``later`` from now, so every event has settled."""
    return events_process(now=timezone.now() + later)
