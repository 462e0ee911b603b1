from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError
from django.utils import timezone

from campaigns.models import Article, Campaign
from campaigns.services.lifecycle import (
    CampaignStateError,
    campaign_cancel,
    campaign_duplicate,
    campaign_schedule,
)
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory, TagFactory, with_reader

pytestmark = pytest.mark.django_db


def in_an_hour():
    return timezone.now() + timedelta(hours=1)


def test_duplicate_copies_content_audience_and_articles_with_new_public_ids():
    campaign = CampaignFactory(
        status=Campaign.Status.SENT, archive_enabled=True, article_feedback_enabled=True, min_engagement_score=40
    )
    lists = [MailingListFactory(), MailingListFactory()]
    campaign.mailing_lists.set(lists)
    campaign.include_tags.set([TagFactory(name="vip")])
    campaign.exclude_tags.set([TagFactory(name="press")])
    originals = [ArticleFactory(campaign=campaign, position=n) for n in range(3)]

    copy = campaign_duplicate(campaign=campaign)

    assert copy.pk != campaign.pk
    assert copy.status == Campaign.Status.DRAFT
    assert copy.archive_id != campaign.archive_id
    assert copy.name == f"Copy of {campaign.name}" or campaign.name in copy.name
    assert (copy.subject, copy.preheader, copy.from_email) == (
        campaign.subject,
        campaign.preheader,
        campaign.from_email,
    )
    assert (copy.article_feedback_enabled, copy.min_engagement_score) == (True, 40)
    assert set(copy.mailing_lists.all()) == set(lists)
    assert [t.name for t in copy.include_tags.all()] == ["vip"]
    assert [t.name for t in copy.exclude_tags.all()] == ["press"]
    copies = list(copy.articles.all())
    assert [a.headline for a in copies] == [a.headline for a in originals]
    assert {a.public_id for a in copies}.isdisjoint({a.public_id for a in originals})
    # The original keeps its ids: analytics of the sent campaign stay attached.
    assert {a.public_id for a in campaign.articles.all()} == {a.public_id for a in originals}


def test_duplicate_shares_the_uploaded_image_file():
    article = ArticleFactory(
        image=SimpleUploadedFile("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * 16), image_alt="A", cta_text=""
    )
    copy = campaign_duplicate(campaign=article.campaign)
    assert copy.articles.get().image.name == article.image.name


def test_schedule_sets_status_and_time():
    campaign = with_reader(ArticleFactory().campaign)
    when = in_an_hour()
    campaign_schedule(campaign=campaign, scheduled_at=when)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    assert campaign.scheduled_at == when


def test_schedule_can_move_a_scheduled_campaign():
    campaign = with_reader(ArticleFactory().campaign)
    campaign_schedule(campaign=campaign, scheduled_at=in_an_hour())
    later = in_an_hour() + timedelta(days=1)
    campaign_schedule(campaign=campaign, scheduled_at=later)
    campaign.refresh_from_db()
    assert campaign.scheduled_at == later


def test_schedule_refuses_the_past():
    campaign = ArticleFactory().campaign
    with pytest.raises(ValidationError):
        campaign_schedule(campaign=campaign, scheduled_at=timezone.now() - timedelta(minutes=1))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_schedule_refuses_campaign_without_lists_or_articles():
    campaign = CampaignFactory(mailing_lists=[])
    with pytest.raises(ValidationError) as error:
        campaign_schedule(campaign=campaign, scheduled_at=in_an_hour())
    assert len(error.value.messages) == 2


def test_schedule_refuses_invalid_merge_tags_saved_around_the_form():
    article = ArticleFactory()
    Article.objects.filter(pk=article.pk).update(body="{{ settings.SECRET_KEY }}")
    with pytest.raises(ValidationError):
        campaign_schedule(campaign=article.campaign, scheduled_at=in_an_hour())


@pytest.mark.parametrize("status", [Campaign.Status.SENDING, Campaign.Status.SENT, Campaign.Status.CANCELLED])
def test_schedule_refuses_campaigns_past_draft(status):
    campaign = ArticleFactory(campaign__status=status).campaign
    with pytest.raises(CampaignStateError):
        campaign_schedule(campaign=campaign, scheduled_at=in_an_hour())


def test_cancel_a_scheduled_campaign():
    campaign = with_reader(ArticleFactory().campaign)
    campaign_schedule(campaign=campaign, scheduled_at=in_an_hour())
    campaign_cancel(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert campaign.finished_at is not None


@pytest.mark.parametrize("status", [Campaign.Status.SENT, Campaign.Status.CANCELLED])
def test_cancel_refuses_finished_campaigns(status):
    campaign = CampaignFactory(status=status)
    with pytest.raises(CampaignStateError):
        campaign_cancel(campaign=campaign)


def test_database_refuses_scheduled_status_without_time():
    campaign = CampaignFactory()
    with pytest.raises(IntegrityError):
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SCHEDULED)


@pytest.mark.parametrize(
    ("name", "content", "valid"),
    [
        ("a.png", b"\x89PNG\r\n\x1a\n0000", True),
        ("a.jpg", b"\xff\xd8\xff\xe0" + b"0" * 12, True),
        ("a.gif", b"GIF89a0000", True),
        ("a.webp", b"RIFF0000WEBPVP8 ", True),
        ("a.png", b"<svg onload=alert(1)>", False),
        ("a.svg", b"<svg></svg>", False),
        ("a.html", b"\x89PNG\r\n\x1a\n0000", False),
    ],
)
def test_article_image_must_be_a_raster_image(name, content, valid):
    article = ArticleFactory.build(campaign=CampaignFactory(), image=SimpleUploadedFile(name, content), image_alt="x")
    if valid:
        article.full_clean()
    else:
        with pytest.raises(ValidationError) as error:
            article.full_clean()
        assert "image" in error.value.message_dict


def test_article_needs_alt_text_for_an_image_and_a_link_for_a_button():
    article = ArticleFactory.build(
        campaign=CampaignFactory(), image_url="https://img.example/a.png", image_alt="", link_url="", cta_text="Go"
    )
    with pytest.raises(ValidationError) as error:
        article.full_clean()
    assert "link_url" in error.value.message_dict or "image_alt" in error.value.message_dict
