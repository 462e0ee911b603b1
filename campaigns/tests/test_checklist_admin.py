"""The checklist and templates in the campaign admin, as a staff member uses them."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory
from subscribers.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"admin:campaigns_campaign_{name}", args=args)


@pytest.fixture
def staff_client(client):
    """A staff member who may view, add and change campaigns, and nothing else."""
    user = get_user_model().objects.create_user("redaktion", "redaktion@example.org", "pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="campaigns", codename__in=["view_campaign", "add_campaign", "change_campaign"]
        )
    )
    client.force_login(user)
    return client


@pytest.fixture
def campaign(in_english):
    news = MailingListFactory()
    SubscriptionFactory(mailing_list=news)
    campaign = CampaignFactory(name="Oktober", mailing_lists=[news], language="en")
    ArticleFactory(campaign=campaign, headline="Erster", body="A" * 400)
    return campaign


def with_image_without_alt(campaign):
    campaign.articles.update(image_url="https://example.org/a.png", image_alt="")
    return campaign


def test_the_change_page_shows_the_checklist(staff_client, campaign):
    page = staff_client.get(url("change", campaign.pk)).content.decode()
    assert 'id="pre-send-checklist"' in page
    assert "Everything checked: ready to send." in page
    assert 'id="confirm-warnings"' not in page
    with_image_without_alt(campaign)
    page = staff_client.get(url("change", campaign.pk)).content.decode()
    assert 'data-code="image_alt"' in page
    assert 'id="confirm-warnings"' in page  # warnings only: "send anyway" is offered


def test_a_blocking_item_offers_no_send_anyway(staff_client, campaign):
    with_image_without_alt(campaign)
    campaign.articles.update(link_url="ftp://example.org/x")
    page = staff_client.get(url("change", campaign.pk)).content.decode()
    assert 'data-code="link_scheme" data-level="block"' in page
    assert 'id="confirm-warnings"' not in page


def test_the_preview_shows_the_checklist(staff_client, campaign):
    with_image_without_alt(campaign)
    page = staff_client.get(url("preview", campaign.pk)).content.decode()
    assert 'data-code="image_alt"' in page


def test_send_now_with_warnings_needs_the_confirmation(staff_client, campaign):
    with_image_without_alt(campaign)
    response = staff_client.post(url("send_now", campaign.pk), follow=True)
    assert "confirm them to send anyway" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not Delivery.objects.exists()

    staff_client.post(url("send_now", campaign.pk), {"confirm_warnings": "1"})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING


def test_send_now_with_a_blocking_item_refuses_even_when_confirmed(staff_client, campaign):
    campaign.mailing_lists.get().subscriptions.all().delete()
    response = staff_client.post(url("send_now", campaign.pk), {"confirm_warnings": "1"}, follow=True)
    assert "its audience is empty" in response.content.decode()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.started_at) == (Campaign.Status.DRAFT, None)


def test_schedule_with_warnings_needs_the_confirmation(staff_client, campaign):
    with_image_without_alt(campaign)
    when = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page = staff_client.get(url("schedule", campaign.pk)).content.decode()
    assert 'data-code="image_alt"' in page and 'name="confirm_warnings"' in page
    response = staff_client.post(url("schedule", campaign.pk), {"apply": "1", "scheduled_at": when})
    assert response.status_code == 200
    assert "confirm them to send anyway" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    response = staff_client.post(
        url("schedule", campaign.pk), {"apply": "1", "scheduled_at": when, "confirm_warnings": "on"}
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED


def test_save_as_template_and_start_a_campaign_from_it(staff_client, campaign):
    response = staff_client.post(url("save_as_template", campaign.pk))
    template = Campaign.objects.get(is_template=True, name="Template: Oktober")
    assert response["Location"] == url("change", template.pk)
    page = staff_client.get(url("change", template.pk)).content.decode()
    assert 'form="campaign-use-template"' in page
    assert 'form="campaign-send-now"' not in page and 'id="pre-send-checklist"' not in page

    response = staff_client.post(url("use_template", template.pk))
    new = Campaign.objects.get(is_template=False, name="Template: Oktober")
    assert response["Location"] == url("change", new.pk)
    assert list(new.articles.values_list("headline", flat=True)) == ["Erster"]
    assert not new.mailing_lists.exists()


def test_a_get_creates_nothing(staff_client, campaign):
    before = Campaign.objects.count()
    assert staff_client.get(url("save_as_template", campaign.pk)).status_code == 302
    assert staff_client.get(url("use_template", campaign.pk)).status_code == 302
    assert Campaign.objects.count() == before


def test_a_campaign_is_not_a_template_to_start_from(staff_client, campaign):
    response = staff_client.post(url("use_template", campaign.pk), follow=True)
    assert "is not a template" in response.content.decode()
    assert Campaign.objects.filter(name="Oktober").count() == 1


def test_the_list_shows_campaigns_and_templates_apart(staff_client, campaign):
    Campaign.objects.filter(is_template=True).delete()
    staff_client.post(url("save_as_template", campaign.pk))
    template = Campaign.objects.get(is_template=True)
    shown, hidden = f'href="{url("change", campaign.pk)}', f'href="{url("change", template.pk)}'
    campaigns = staff_client.get(url("changelist")).content.decode()
    assert shown in campaigns and hidden not in campaigns
    templates = staff_client.get(url("changelist") + "?type=templates").content.decode()
    assert hidden in templates and shown not in templates
    everything = staff_client.get(url("changelist") + "?type=all").content.decode()
    assert shown in everything and hidden in everything
