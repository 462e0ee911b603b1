"""Campaign templates: save as template, new campaign from a template, the shipped starting points."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.checklist import campaign_checklist
from campaigns.models import Campaign, Delivery
from campaigns.services import lifecycle, sending
from campaigns.services.lifecycle import CampaignStateError
from campaigns.services.templates import campaign_from_template, campaign_save_as_template
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory, TagFactory
from subscribers.tests.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

starters = importlib.import_module("campaigns.migrations.0015_shipped_templates")


@pytest.fixture
def campaign():
    news = MailingListFactory()
    SubscriptionFactory(mailing_list=news)
    campaign = CampaignFactory(
        name="Oktober", subject="Oktober-News", preheader="Alles zum Herbst", mailing_lists=[news]
    )
    campaign.include_tags.add(TagFactory())
    ArticleFactory(campaign=campaign, position=0, headline="Erster", body="A" * 400)
    ArticleFactory(campaign=campaign, position=1, headline="Zweiter", body="B" * 400)
    return campaign


@pytest.mark.usefixtures("in_english")
def test_save_as_template_copies_content_and_articles_not_the_audience(campaign):
    template = campaign_save_as_template(campaign=campaign)
    assert template.is_template and template.pk != campaign.pk
    assert template.name == "Template: Oktober"
    assert (template.subject, template.preheader) == ("Oktober-News", "Alles zum Herbst")
    assert list(template.articles.values_list("headline", flat=True)) == ["Erster", "Zweiter"]
    assert not template.mailing_lists.exists() and not template.include_tags.exists()
    assert set(template.articles.values_list("public_id", flat=True)).isdisjoint(
        campaign.articles.values_list("public_id", flat=True)
    )
    campaign.refresh_from_db()
    assert not campaign.is_template and campaign.articles.count() == 2


def test_a_sent_campaign_can_be_saved_as_a_template(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT)
    campaign.refresh_from_db()
    template = campaign_save_as_template(campaign=campaign)
    assert template.status == Campaign.Status.DRAFT
    assert template.articles.count() == 2


def test_a_new_campaign_from_a_template_gets_its_content_and_no_audience_or_figures(campaign):
    template = campaign_save_as_template(campaign=campaign, name="Monatsbrief")
    Delivery.objects.create(campaign=campaign, subscriber=None, status=Delivery.Status.SENT)
    new = campaign_from_template(template=template)
    assert not new.is_template
    assert new.status == Campaign.Status.DRAFT
    assert (new.name, new.subject, new.preheader) == ("Monatsbrief", "Oktober-News", "Alles zum Herbst")
    assert list(new.articles.values_list("headline", "body")) == [("Erster", "A" * 400), ("Zweiter", "B" * 400)]
    assert not new.mailing_lists.exists() and not new.include_tags.exists()
    assert not new.deliveries.exists()
    assert template.articles.count() == 2  # the template stays as it was


def test_only_a_template_starts_a_campaign(campaign):
    with pytest.raises(CampaignStateError):
        campaign_from_template(template=campaign)


@pytest.mark.usefixtures("in_english")
def test_a_template_is_never_sent_or_scheduled(campaign):
    template = campaign_save_as_template(campaign=campaign)
    template.mailing_lists.set(campaign.mailing_lists.all())  # even with an audience
    with pytest.raises(ValidationError) as error:
        sending.campaign_start(campaign=template, warnings_confirmed=True)
    assert "template" in " ".join(error.value.messages)
    with pytest.raises(ValidationError):
        lifecycle.campaign_schedule(
            campaign=template, scheduled_at=timezone.now() + timedelta(hours=1), warnings_confirmed=True
        )
    template.refresh_from_db()
    assert template.status == Campaign.Status.DRAFT
    assert not Delivery.objects.filter(campaign=template).exists()


def test_duplicating_a_template_gives_a_template(campaign):
    template = campaign_save_as_template(campaign=campaign)
    assert lifecycle.campaign_duplicate(campaign=template).is_template


def test_three_starting_points_are_shipped_in_the_sites_language():
    names = [starter["name"] for starter in starters.STARTERS[starters.site_language()]]
    shipped = Campaign.objects.filter(is_template=True, name__in=names)
    assert shipped.count() == 3
    for template in shipped:
        assert template.articles.exists()
        assert template.language == starters.site_language()


def test_each_shipped_starting_point_makes_a_sendable_campaign():
    news = MailingListFactory()
    SubscriptionFactory(mailing_list=news)
    for template in Campaign.objects.filter(is_template=True):
        new = campaign_from_template(template=template)
        new.full_clean()
        for article in new.articles.all():
            article.full_clean()
        new.mailing_lists.add(news)
        assert [item for item in campaign_checklist(campaign=new) if item.blocks] == []


def test_english_sites_get_english_starting_points(settings):
    Campaign.objects.filter(is_template=True).delete()
    settings.LANGUAGE_CODE = "en-gb"
    starters.create_starters(apps, None)
    assert set(Campaign.objects.filter(is_template=True).values_list("name", flat=True)) == {
        "Template: newsletter with articles",
        "Template: announcement",
        "Template: personal letter",
    }
    assert set(Campaign.objects.filter(is_template=True).values_list("language", flat=True)) == {"en"}
    starters.create_starters(apps, None)  # again: nothing added
    assert Campaign.objects.filter(is_template=True).count() == 3
