"""List-Unsubscribe on every transport: the https one-click target (RFC 8058), and a mailto only when
an operator names a mailbox that is read; its token can do nothing but unsubscribe."""

import email
import re
from email.utils import getaddresses
from urllib.parse import unquote, urlsplit

import pytest
from django.core import mail
from django.test import Client

from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers import tokens
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

TRANSPORTS = ["smtp", "anymail-each", "anymail-batch"]


@pytest.fixture
def sent_headers(request, settings, django_capture_on_commit_callbacks):
    """Send a campaign to two readers over the given transport; {address: List-Unsubscribe}."""

    def send(transport: str) -> dict[str, str]:
        if transport == "smtp":
            sink = request.getfixturevalue("smtp_sink")
        elif transport == "anymail-batch":
            settings.KANAL_ESP_MERGE_FIELD_FORMAT = "%recipient.{}%"
        news = MailingListFactory()
        campaign = CampaignFactory(mailing_lists=[news])
        ArticleFactory(campaign=campaign)
        for _ in range(2):
            SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory())
        with django_capture_on_commit_callbacks():
            sending.campaign_start(campaign=campaign)
        while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
            pass
        if transport == "smtp":
            parsed = [email.message_from_bytes(data) for _peer, data in sink.messages]
            assert all(message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for message in parsed)
            return {message["To"]: re.sub(r"\r?\n\s+", " ", message["List-Unsubscribe"]) for message in parsed}
        if transport == "anymail-each":
            return {message.to[0]: message.extra_headers["List-Unsubscribe"] for message in mail.outbox}
        (message,) = mail.outbox
        merge_headers = message.anymail_test_params["merge_headers"]
        addresses = [address for _name, address in getaddresses(message.to)]
        return {address: merge_headers[address]["List-Unsubscribe"] for address in addresses}

    return send


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_list_unsubscribe_names_only_the_one_click_url_by_default(transport, sent_headers, settings):
    settings.KANAL_UNSUBSCRIBE_MAILTO = ""
    headers = sent_headers(transport)
    assert len(headers) == 2
    for value in headers.values():
        assert "mailto:" not in value
        assert re.fullmatch(r"<http://[^>]+/unsubscribe/[^>]+/one-click/>", value), value


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_configured_mailto_carries_a_token_that_only_unsubscribes(transport, sent_headers, settings):
    settings.KANAL_UNSUBSCRIBE_MAILTO = "unsubscribe@news.example.com"
    headers = sent_headers(transport)
    client = Client()
    for value in headers.values():
        https_part, mailto_part = value.split(", ")
        assert https_part.endswith("/one-click/>")
        match = re.fullmatch(r"<mailto:unsubscribe@news\.example\.com\?subject=unsubscribe%20([^>]+)>", mailto_part)
        assert match, mailto_part
        token = unquote(match.group(1))
        public_id, _version = tokens.read_subscriber_token(token, purpose="mailto-unsubscribe")
        assert public_id
        for purpose in ("preferences", "unsubscribe"):
            with pytest.raises(tokens.InvalidToken):
                tokens.read_subscriber_token(token, purpose=purpose)
        for path in (f"/preferences/{token}/", f"/unsubscribe/{token}/", f"/unsubscribe/{token}/one-click/"):
            assert client.get(path).status_code == 404, path
        https_path = urlsplit(https_part.strip("<>")).path
        assert client.get(https_path, follow=True).status_code == 200
