"""Fixtures of the forward and share tests: a campaign with sharing, sent to one reader."""

import pytest
from django.core import mail

from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory


@pytest.fixture
def news():
    return MailingListFactory(name="News", slug="news")


@pytest.fixture
def reader(news):
    subscriber = SubscriberFactory(
        email="ida.reader@example.org", first_name="Ida", last_name="Quellenberg", tracking_consent=True
    )
    SubscriptionFactory(mailing_list=news, subscriber=subscriber)
    return subscriber


@pytest.fixture
def campaign(news):
    campaign = CampaignFactory(
        mailing_lists=[news], archive_enabled=True, sharing_enabled=True, article_feedback_enabled=True
    )
    ArticleFactory(campaign=campaign)
    return campaign


@pytest.fixture
def sent(campaign, reader, django_capture_on_commit_callbacks, settings):
    """The campaign sent to the reader; returns the reader's mail."""
    settings.KANAL_TRACKING_SCANNER_SECONDS = 0
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    (message,) = mail.outbox
    mail.outbox.clear()
    return message
