"""The forward link and the share links are per recipient on every transport (the archive page's
share links are the campaign's)."""

import email
import re
from email import policy
from email.utils import parseaddr
from html import unescape

import pytest
from django.core import mail

from campaigns.models import Delivery
from campaigns.services import sending
from sharing import tokens
from sharing.models import Network
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
FORWARD = re.compile(r"/forward/([A-Za-z0-9_-]+)/")
SHARE = re.compile(r"/share/([A-Za-z0-9_-]+)/(\w+)/")


def readers(news, count):
    return [SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory()).subscriber for _ in range(count)]


def send(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass


def assert_own_links(address: str, html: str, text: str, campaign):
    delivery = Delivery.objects.get(campaign=campaign, subscriber__email=address)
    for body in (html, text):
        (token,) = set(FORWARD.findall(body))
        assert tokens.verify_forward(token) == (delivery.pk, campaign.pk)
        shares = SHARE.findall(body)
        assert {network for _token, network in shares} == set(Network.values)
        (share_token,) = {token for token, _network in shares}
        assert tokens.verify_own_share(share_token) == (delivery.pk, campaign.pk)


def test_esp_batches_give_each_recipient_their_own_forward_and_share_links(
    campaign, news, django_capture_on_commit_callbacks, settings
):
    settings.KANAL_ESP_MERGE_FIELD_FORMAT = "%recipient.{}%"
    settings.KANAL_ESP_BATCH_SIZE = 3
    readers(news, 3)
    send(campaign, django_capture_on_commit_callbacks)
    (message,) = mail.outbox
    params = message.anymail_test_params
    for address in (recipient.addr_spec for recipient in params["to"]):
        values = params["merge_data"][address]

        def fill(template, values=values):
            return re.sub(r"%recipient\.(kanal_\w+)%", lambda match: values[match.group(1)], template)

        assert_own_links(address, unescape(fill(message.alternatives[0][0])), fill(message.body), campaign)


def test_smtp_gives_each_recipient_their_own_forward_and_share_links(
    campaign, news, smtp_sink, django_capture_on_commit_callbacks
):
    readers(news, 3)
    send(campaign, django_capture_on_commit_callbacks)
    assert len(smtp_sink.messages) == 3
    for _recipients, raw in smtp_sink.messages:
        parsed = email.message_from_bytes(raw, policy=policy.default)
        html = unescape(parsed.get_body(("html",)).get_content())
        text = parsed.get_body(("plain",)).get_content()
        assert_own_links(parseaddr(parsed["To"])[1], html, text, campaign)
