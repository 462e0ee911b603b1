import uuid

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def archive_url(campaign):
    return reverse("campaigns:archive", kwargs={"archive_id": campaign.archive_id})


@pytest.fixture
def sent_campaign():
    mailing_list = MailingListFactory(slug="wochenpost")
    campaign = CampaignFactory(
        status=Campaign.Status.SENT,
        archive_enabled=True,
        mailing_lists=[mailing_list],
        subject='Hallo {{ subscriber.first_name|default:"Leserin" }}',
    )
    ArticleFactory(campaign=campaign, headline='Guten Tag, {{ subscriber.first_name|default:"liebe Leserin" }}')
    SubscriptionFactory(
        mailing_list=mailing_list, subscriber__first_name="Greta", subscriber__email="greta@example.org"
    )
    return campaign


@pytest.mark.parametrize("status", [Campaign.Status.SENT, Campaign.Status.SENDING])
def test_archive_page_shows_a_sent_campaign(client, sent_campaign, status):
    Campaign.objects.filter(pk=sent_campaign.pk).update(status=status)
    response = client.get(archive_url(sent_campaign))
    assert response.status_code == 200
    assert "Guten Tag, liebe Leserin" in response.content.decode()


def test_archive_page_has_no_personal_data_and_links_to_the_signup_page(client, sent_campaign, settings):
    content = client.get(archive_url(sent_campaign)).content.decode()
    assert "Greta" not in content and "greta@example.org" not in content
    assert "/unsubscribe/" not in content and "/preferences/" not in content
    assert f'href="{settings.SITE_URL}/subscribe/wochenpost/"' in content
    assert str(sent_campaign.archive_id) not in content  # no "view in browser" link to itself


@pytest.mark.parametrize(
    "status",
    [Campaign.Status.DRAFT, Campaign.Status.SCHEDULED, Campaign.Status.PAUSED, Campaign.Status.CANCELLED],
)
def test_archive_page_is_404_before_sending(client, sent_campaign, status):
    Campaign.objects.filter(pk=sent_campaign.pk).update(
        status=status, scheduled_at=sent_campaign.created_at if status == Campaign.Status.SCHEDULED else None
    )
    assert client.get(archive_url(sent_campaign)).status_code == 404


def test_archive_page_is_404_when_archive_disabled(client, sent_campaign):
    Campaign.objects.filter(pk=sent_campaign.pk).update(archive_enabled=False)
    assert client.get(archive_url(sent_campaign)).status_code == 404


def test_archive_page_is_404_for_unknown_id_and_database_id(client, sent_campaign):
    assert client.get(reverse("campaigns:archive", kwargs={"archive_id": uuid.uuid4()})).status_code == 404
    assert client.get(f"/archive/{sent_campaign.pk}/").status_code == 404


def test_mail_links_to_archive_page_when_enabled(sent_campaign):
    from campaigns.previews import compile_for_display, neutral_recipient

    rendered = compile_for_display(sent_campaign).render(neutral_recipient(sent_campaign))
    assert archive_url(sent_campaign) in rendered.html


def test_archive_page_is_rendered_once_then_served_from_cache(client, sent_campaign, django_assert_max_num_queries):
    client.get(archive_url(sent_campaign))
    with django_assert_max_num_queries(1):
        response = client.get(archive_url(sent_campaign))
    assert "Guten Tag, liebe Leserin" in response.content.decode()


def test_archive_page_has_a_content_security_policy(client, sent_campaign):
    policy = client.get(archive_url(sent_campaign))["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"].startswith("'self'"), "no inline script a campaign's HTML might smuggle in"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
