"""ESP webhooks (through Anymail's real endpoints) are linked to the campaign delivery they are about."""

import base64
import json

import pytest

from subscribers.models import Subscriber
from tracking.models import DeliveryReport
from tracking.selectors import campaign_funnel
from tracking.tests.factories import DeliveryFactory, SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("newsletter_site.tests.urls_with_webhooks")]

WEBHOOK_SECRET = "kanal:secret"


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture
def delivery(campaign):
    return DeliveryFactory(
        campaign=campaign.campaign,
        subscriber=SubscriberFactory(email="leser@example.org"),
        esp_message_id="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    )


def post(client, payload, secret=WEBHOOK_SECRET):
    return client.post(
        "/anymail/postmark/tracking/",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(secret.encode()).decode(),
    )


def postmark_delivery(delivery, *, metadata=None, message_id="other-id"):
    return {
        "RecordType": "Delivery",
        "MessageID": message_id,
        "Recipient": "leser@example.org",
        "DeliveredAt": "2026-11-20T09:15:02Z",
        "Details": "smtp;250 2.0.0 OK",
        "Tag": "campaign",
        "ServerID": 1234,
        "Metadata": metadata
        if metadata is not None
        else {"kind": "campaign", "campaign_id": str(delivery.campaign_id), "delivery_id": str(delivery.pk)},
    }


def postmark_bounce(*, message_id, bounce_type="HardBounce", bounce_id=77):
    return {
        "RecordType": "Bounce",
        "ID": bounce_id,
        "Type": bounce_type,
        "TypeCode": 1,
        "MessageID": message_id,
        "Email": "leser@example.org",
        "BouncedAt": "2026-11-20T09:15:02Z",
        "Description": "Mailbox not found",
        "Metadata": {},
    }


def test_a_delivered_event_is_linked_through_anymail_metadata(client, delivery):
    assert post(client, postmark_delivery(delivery)).status_code == 200
    report = DeliveryReport.objects.get()
    assert (report.kind, report.delivery, report.campaign_id) == ("delivered", delivery, delivery.campaign_id)
    assert report.occurred_at.isoformat().startswith("2026-11-20T09:15:02")


def test_a_bounce_is_linked_through_the_esp_message_id_and_the_subscriber_still_bounces(client, delivery):
    assert post(client, postmark_bounce(message_id=delivery.esp_message_id)).status_code == 200
    assert DeliveryReport.objects.get().kind == "bounced"
    delivery.subscriber.refresh_from_db()
    assert delivery.subscriber.status == Subscriber.Status.BOUNCED, "the subscribers app still acts on it"
    assert campaign_funnel(campaign=delivery.campaign).bounced == 1


def test_a_soft_bounce_is_reported_as_such(client, delivery):
    post(client, postmark_bounce(message_id=delivery.esp_message_id, bounce_type="SoftBounce"))
    assert DeliveryReport.objects.get().kind == "soft_bounced"


def test_a_repeated_webhook_is_recorded_once(client, delivery):
    post(client, postmark_bounce(message_id=delivery.esp_message_id))
    post(client, postmark_bounce(message_id=delivery.esp_message_id))
    post(client, postmark_delivery(delivery))
    post(client, postmark_delivery(delivery))
    assert sorted(DeliveryReport.objects.values_list("kind", flat=True)) == ["bounced", "delivered"]


def test_metadata_naming_another_campaign_is_not_trusted(client, delivery):
    metadata = {"campaign_id": str(delivery.campaign_id + 1), "delivery_id": str(delivery.pk)}
    post(client, postmark_delivery(delivery, metadata=metadata))
    assert not DeliveryReport.objects.exists()


def test_mails_that_are_not_campaign_deliveries_are_ignored(client, delivery):
    post(client, postmark_delivery(delivery, metadata={"kind": "confirmation"}, message_id="unknown"))
    post(client, postmark_delivery(delivery, metadata={"delivery_id": "not a number"}, message_id=""))
    assert not DeliveryReport.objects.exists()


def test_the_funnel_uses_reported_deliveries(client, campaign, delivery):
    other = DeliveryFactory(campaign=campaign.campaign, esp_message_id="m-2")
    post(client, postmark_delivery(delivery))
    post(client, postmark_bounce(message_id=other.esp_message_id))
    funnel = campaign_funnel(campaign=campaign.campaign)
    assert (funnel.sent, funnel.delivered, funnel.bounced) == (2, 1, 1)
