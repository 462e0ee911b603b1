"""The analytics page of a newsletter sent at each reader's time: human click rate by the local
hour each reader got it; staff pages keep Kanal's look rather than the list's brand."""

import uuid
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from brands.models import Brand
from campaigns.models import Campaign
from newsletter_site.testing import staff_login
from sendtime.models import CampaignSendTime
from subscribers.tests.factories import MailingListFactory
from tracking.models import Event
from tracking.tests.factories import CampaignFactory, DeliveryFactory, SubscriberFactory
from tracking.tests.test_analytics_pages import csv_of

pytestmark = pytest.mark.django_db

MORNING_UTC = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Berlin, 03:00 in New York


def click(delivery, *, machine: bool = False):
    Event.objects.create(
        uid=uuid.uuid4(),
        kind=Event.Kind.CLICK,
        campaign=delivery.campaign,
        delivery=delivery,
        occurred_at=delivery.sent_at,
        is_machine=machine,
        machine_reason=Event.MachineReason.SCANNER_AGENT if machine else "",
        counted=True,
    )


def csv_url(campaign) -> str:
    return reverse("tracking:analytics_campaign_csv", args=[campaign.pk, "delivery_hours"])


def test_click_rate_by_the_readers_local_delivery_hour(client, in_english):
    campaign = CampaignFactory()
    CampaignSendTime.objects.create(campaign=campaign, mode=CampaignSendTime.Mode.BEST_TIME, window_hours=24)
    berlin = [SubscriberFactory(time_zone="Europe/Berlin", tracking_consent=True) for _ in range(4)]
    new_york = [SubscriberFactory(time_zone="America/New_York", tracking_consent=True) for _ in range(2)]
    untracked = SubscriberFactory(time_zone="Europe/Berlin", tracking_consent=False)
    deliveries = {
        subscriber.pk: DeliveryFactory(campaign=campaign, subscriber=subscriber, sent_at=MORNING_UTC)
        for subscriber in [*berlin, *new_york, untracked]
    }
    click(deliveries[berlin[0].pk])
    click(deliveries[berlin[1].pk], machine=True)  # a scanner: no reader clicked
    click(deliveries[new_york[0].pk])
    staff_login(client, "campaigns.view_campaign")

    rows = csv_of(client.get(csv_url(campaign)))
    assert rows == [
        ["local_hour", "delivered", "human_clickers", "click_rate_percent"],
        ["03:00", "2", "1", "50.0"],
        ["09:00", "4", "1", "25.0"],
    ]
    page = client.get(reverse("tracking:analytics_campaign", args=[campaign.pk])).content.decode()
    assert "Human click rate by delivery hour" in page


def test_a_campaign_sent_at_once_has_no_such_table(client):
    campaign = CampaignFactory()
    DeliveryFactory(campaign=campaign)
    staff_login(client, "campaigns.view_campaign")
    assert client.get(csv_url(campaign)).status_code == 404
    CampaignSendTime.objects.create(campaign=campaign, mode=CampaignSendTime.Mode.AT_ONCE)
    assert client.get(csv_url(campaign)).status_code == 404


def test_staff_pages_are_not_dressed_in_the_lists_brand(client):
    brand = Brand.objects.create(name="Kiezladen", primary_color="#aa0000", logo_url="https://example.org/kiez.png")
    news = MailingListFactory(brand=brand)
    campaign = CampaignFactory(mailing_lists=[news], archive_enabled=True, status=Campaign.Status.SENT)
    DeliveryFactory(campaign=campaign)
    archive = client.get(reverse("campaigns:archive", kwargs={"archive_id": campaign.archive_id})).content.decode()
    assert "https://example.org/kiez.png" in archive
    staff_login(client, "campaigns.view_campaign")
    page = client.get(reverse("tracking:analytics_campaign", args=[campaign.pk])).content.decode()
    assert "https://example.org/kiez.png" not in page and "#aa0000" not in page
