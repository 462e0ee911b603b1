"""Mail posted by an ESP to Anymail's inbound webhook (Postmark's JSON with the raw MIME included)."""

import json

import pytest

from inbound.models import InboundMessage
from inbound.tests.conftest import mailto_unsubscribe, returned
from subscribers.models import Subscriber
from subscribers.tests.test_esp_feedback import WEBHOOK_SECRET, auth_header

# The webhooks are mounted only with ANYMAIL_WEBHOOK_SECRET set (newsletter_site/tests/test_checks.py).
pytestmark = [pytest.mark.django_db, pytest.mark.urls("newsletter_site.tests.urls_with_webhooks")]


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET}


def postmark_inbound(raw: bytes) -> dict:
    """Postmark's inbound webhook body with "Include raw email content in JSON payload" on."""
    return {
        "FromName": "Mail Delivery System",
        "MessageStream": "inbound",
        "From": "MAILER-DAEMON@mail.news.example.com",
        "FromFull": {"Email": "MAILER-DAEMON@mail.news.example.com", "Name": "Mail Delivery System", "MailboxHash": ""},
        "To": "bounces@inbound.news.example.com",
        "ToFull": [{"Email": "bounces@inbound.news.example.com", "Name": "", "MailboxHash": ""}],
        "Cc": "",
        "CcFull": [],
        "Bcc": "",
        "BccFull": [],
        "OriginalRecipient": "bounces@inbound.news.example.com",
        "Subject": "Undelivered Mail Returned to Sender",
        "MessageID": "73e6d360-66eb-11e1-8e72-a8904824019b",
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": "Fri, 20 Nov 2026 10:15:03 +0100",
        "TextBody": "This is the mail system at host mail.news.example.com.",
        "HtmlBody": "",
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": [{"Name": "X-Spam-Status", "Value": "No"}],
        "Attachments": [],
        "RawEmail": raw.decode("utf-8"),
    }


def post_inbound(client, payload, secret=WEBHOOK_SECRET):
    return client.post(
        "/anymail/postmark/inbound/",
        data=json.dumps(payload),
        content_type="application/json",
        **auth_header(secret),
    )


def test_a_dsn_posted_to_the_inbound_webhook_bounces_the_subscriber_once(client, reader, delivery):
    payload = postmark_inbound(returned("postfix_hard_bounce.eml", delivery))
    assert post_inbound(client, payload).status_code == 200
    assert post_inbound(client, payload).status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    record = InboundMessage.objects.get()
    assert (record.source, record.kind, record.delivery) == (
        "anymail:Postmark",
        InboundMessage.Kind.HARD_BOUNCE,
        delivery,
    )


def test_a_mailto_unsubscribe_posted_to_the_inbound_webhook_unsubscribes(client, settings, reader):
    assert post_inbound(client, postmark_inbound(mailto_unsubscribe(settings, reader))).status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED


def test_the_inbound_webhook_without_the_secret_is_refused(client, reader, delivery):
    response = post_inbound(client, postmark_inbound(returned("postfix_hard_bounce.eml", delivery)), secret="x:y")
    assert response.status_code == 400
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE
    assert not InboundMessage.objects.exists()
