from pathlib import Path
from urllib.parse import unquote

import pytest
from django.utils import timezone

from campaigns.mime import message_id
from campaigns.models import Delivery
from campaigns.tests.factories import CampaignFactory
from inbound.tests.dovecot import dovecot_running
from subscribers.links import MailLinks
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

SAMPLES = Path(__file__).parent / "samples"
SAMPLE_MESSAGE_ID = b"<kanal.7.42@news.example.com>"


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.fixture
def reader(db):
    """An active subscriber of two lists who was sent one campaign."""
    subscriber = SubscriberFactory(email="reader@example.org")
    for mailing_list in (MailingListFactory(), MailingListFactory()):
        SubscriptionFactory(subscriber=subscriber, mailing_list=mailing_list)
    return subscriber


@pytest.fixture
def delivery(reader):
    campaign = CampaignFactory(from_email="newsletter@news.example.com")
    return Delivery.objects.create(
        campaign=campaign, subscriber=reader, status=Delivery.Status.SENT, sent_at=timezone.now()
    )


def returned(name: str, delivery: Delivery) -> bytes:
    """A sample about ``delivery``: its Message-ID as the sending pipeline sets it."""
    mid = message_id(campaign_id=delivery.campaign_id, delivery_id=delivery.pk, domain="news.example.com")
    return sample(name).replace(SAMPLE_MESSAGE_ID, mid.encode())


def mailto_unsubscribe(settings, subscriber) -> bytes:
    """The mail a mail client sends for the List-Unsubscribe mailto Kanal put in the subscriber's mail."""
    settings.KANAL_UNSUBSCRIBE_MAILTO = "unsubscribe@news.example.com"
    header = MailLinks().for_subscriber(subscriber)[2]
    mailto = header.split("<mailto:")[1].rstrip(">")
    subject = unquote(mailto.split("?subject=")[1])
    return sample("mailto_unsubscribe.eml").replace(b"Subject: unsubscribe TOKEN", f"Subject: {subject}".encode())


@pytest.fixture
def dovecot():
    """A Dovecot of this test's own on 127.0.0.1 (inbound.tests.dovecot)."""
    with dovecot_running() as server:
        yield server
