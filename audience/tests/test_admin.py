"""The segment admin: the editor's page, its live count, broken segments shown as such."""

import json

import pytest
from django.urls import reverse

from audience.models import Segment
from audience.tests.factories import SegmentFactory, leaf
from campaigns.models import Campaign
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory
from tracking.tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db

PREVIEW = "admin:audience_segment_preview"


def preview(client, rules):
    response = client.post(reverse(PREVIEW), json.dumps({"rules": rules}), content_type="application/json")
    return response.status_code, response.json()


def test_the_live_count_gives_figures_a_sample_and_the_consent_gap(admin_client):
    campaign = CampaignFactory()
    DeliveryFactory(
        campaign=campaign,
        subscriber=SubscriberFactory(email="anna@example.org", first_name="Anna", tracking_consent=True),
    )
    DeliveryFactory(campaign=campaign, subscriber=SubscriberFactory(email="ben@example.org", tracking_consent=False))
    status, data = preview(admin_client, leaf("not_opened_campaign", campaign=campaign.pk))
    assert status == 200
    assert data["count"] == 1 and data["left_out_for_consent"] == 1 and data["matches_everyone"] is False
    assert data["sample"] == [{"email": "anna@example.org", "name": "Anna Mustermann"}]


def test_the_live_count_reports_problems_instead_of_figures(admin_client):
    status, data = preview(admin_client, leaf("engagement_score", min="viel"))
    assert status == 200 and data["count"] is None and "whole number" in data["problems"][0]
    response = admin_client.post(reverse(PREVIEW), "{nope", content_type="application/json")
    assert response.status_code == 400


def test_the_editor_page_carries_the_kinds_and_saves_rules(admin_client):
    mailing_list = MailingListFactory(name="Kiez")
    page = admin_client.get(reverse("admin:audience_segment_add")).content.decode()
    assert 'id="segment-kinds"' in page and "received_campaign" in page and "Kiez" in page
    assert "audience/segment_editor.js" in page
    response = admin_client.post(
        reverse("admin:audience_segment_add"),
        {"name": "Kiez-Leser", "description": "", "rules": json.dumps(leaf("lists", lists=[mailing_list.pk]))},
    )
    assert response.status_code == 302
    assert Segment.objects.get().rules == {"kind": "lists", "lists": [mailing_list.pk]}


def test_a_value_of_the_wrong_type_is_a_form_error(admin_client):
    response = admin_client.post(
        reverse("admin:audience_segment_add"),
        {"name": "Kaputt", "description": "", "rules": json.dumps(leaf("read_recently", action="opened", days="x"))},
    )
    assert response.status_code == 200
    assert "must be a whole number" in response.content.decode()
    assert not Segment.objects.exists()


def test_a_broken_segment_shows_as_broken_in_the_admin_and_on_its_campaign(admin_client):
    gone = MailingListFactory()
    segment = SegmentFactory(name="Weg", rules=leaf("lists", lists=[gone.pk]))
    campaign = CampaignFactory(segment=segment)
    ArticleFactory(campaign=campaign)
    gone.delete()
    page = admin_client.get(reverse("admin:audience_segment_change", args=[segment.pk])).content.decode()
    assert "broken: cannot be used for sending" in page and "no longer exists" in page
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert "A segment is broken; this campaign cannot be sent" in page


def test_staff_send_a_sent_campaign_again_to_non_openers(admin_client):
    news = MailingListFactory()
    campaign = CampaignFactory(mailing_lists=[news], status=Campaign.Status.SENT)
    ArticleFactory(campaign=campaign)
    for name in ("anna", "ben"):
        subscriber = SubscriberFactory(email=f"{name}@example.org", tracking_consent=True)
        SubscriptionFactory(subscriber=subscriber, mailing_list=news)
        DeliveryFactory(campaign=campaign, subscriber=subscriber)
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    url = reverse("admin:campaigns_campaign_follow_up", args=[campaign.pk])
    assert url in page
    response = admin_client.post(url, {"reaction": "not_clicked", "subject": "Noch einmal"})
    follow_up = Campaign.objects.get(subject="Noch einmal")
    assert response.status_code == 302 and response["Location"].endswith(f"/{follow_up.pk}/change/")
    assert follow_up.segment.rules["children"][1] == {
        "kind": "not_clicked_campaign",
        "campaign": campaign.pk,
        "include_machine": False,
    }
    page = admin_client.get(response["Location"]).content.decode()
    assert "Noch einmal" in page
