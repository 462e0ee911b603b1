"""The pre-send checklist: each rule once where it fires and once where it does not, and its enforcement."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.checklist import BLOCK, GMAIL_CLIP_BYTES, WARN, campaign_checklist
from campaigns.models import Campaign, Delivery
from campaigns.services import lifecycle, sending
from campaigns.services.lifecycle import ChecklistWarnings
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory, TagFactory
from subscribers.models import CustomField
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


@pytest.fixture
def news():
    return MailingListFactory(name="News")


@pytest.fixture
def campaign(news):
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign, body="A" * 400)
    SubscriptionFactory(mailing_list=news)
    return campaign


def codes(campaign) -> dict[str, str]:
    return {item.code: item.level for item in campaign_checklist(campaign=campaign)}


def item(campaign, code):
    return next(item for item in campaign_checklist(campaign=campaign) if item.code == code)


def test_a_plain_campaign_passes(campaign):
    assert campaign_checklist(campaign=campaign) == []


def test_no_subject_blocks(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(subject="  ")
    campaign.refresh_from_db()
    assert codes(campaign) == {"no_subject": BLOCK}


def test_no_article_blocks(campaign):
    campaign.articles.all().delete()
    assert codes(campaign) == {"no_articles": BLOCK}


def test_a_template_blocks(campaign):
    Campaign.objects.filter(pk=campaign.pk).update(is_template=True)
    campaign.refresh_from_db()
    assert codes(campaign)["template"] == BLOCK


def test_an_unknown_merge_tag_blocks(campaign):
    CustomField.objects.create(key="city", label_de="Stadt", label_en="City")
    campaign.articles.update(body="Grüße nach {{ subscriber.fields.city|default:'X' }}")
    assert "merge_tag_invalid" not in codes(campaign)
    CustomField.objects.filter(key="city").delete()  # the text was valid when saved
    found = item(campaign, "merge_tag_invalid")
    assert found.level == BLOCK
    assert "subscriber.fields.city" in found.details[0]


def test_a_custom_field_some_recipients_lack_warns_with_their_number(campaign, news):
    CustomField.objects.create(key="city", label_de="Stadt", label_en="City")
    SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory(fields={"city": "Köln"}))
    campaign.articles.update(body="Grüße nach {{ subscriber.fields.city }}. " + "A" * 400)
    found = item(campaign, "merge_tag_missing")
    assert found.level == WARN
    assert found.details == ("{{ subscriber.fields.city }}: 1 recipient has no value",)


def test_a_merge_tag_with_a_default_does_not_warn(campaign):
    CustomField.objects.create(key="city", label_de="Stadt", label_en="City")
    campaign.articles.update(body="Grüße nach {{ subscriber.fields.city|default:'Ihrer Stadt' }}. " + "A" * 400)
    assert campaign_checklist(campaign=campaign) == []


def test_an_empty_first_name_warns_without_a_default(campaign, news):
    SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory(first_name=""))
    Campaign.objects.filter(pk=campaign.pk).update(subject="Hallo {{ subscriber.first_name }}")
    campaign.refresh_from_db()
    assert item(campaign, "merge_tag_missing").details == ("{{ subscriber.first_name }}: 1 recipient has no value",)


@pytest.mark.parametrize(
    "body",
    [
        "[Klick](javascript:alert(1))",
        "[Datei](ftp://example.org/file)",
        '<a href="data:text/html,hi">roh</a>',
        "[relativ](/seite)",
        "![Bild](file:///etc/passwd)",
    ],
)
def test_links_that_are_not_http_block(campaign, body):
    campaign.articles.update(body=body + " " + "A" * 400)
    assert codes(campaign)["link_scheme"] == BLOCK


def test_a_non_http_article_link_blocks(campaign):
    campaign.articles.update(link_url="ftp://example.org/file")
    found = item(campaign, "link_scheme")
    assert found.details == ("ftp://example.org/file",)


def test_http_https_mailto_and_merge_tag_links_pass(campaign):
    campaign.articles.update(
        body="[a](http://example.org) [b](https://example.org) [c](mailto:hallo@example.org) "
        "[d]({{ subscriber.email }}) " + "A" * 400
    )
    assert "link_scheme" not in codes(campaign)


def test_an_image_without_alt_text_warns(campaign):
    campaign.articles.update(image_url="https://example.org/a.png", image_alt="")
    assert codes(campaign)["image_alt"] == WARN
    campaign.articles.update(image_alt="Ein Bild")
    assert "image_alt" not in codes(campaign)


def test_a_body_image_without_alt_text_warns(campaign):
    campaign.articles.update(body="![](https://example.org/b.png) " + "A" * 700)
    assert item(campaign, "image_alt").details == (
        "image https://example.org/b.png in “" + campaign.articles.get().headline + "”",
    )
    campaign.articles.update(body="![Karte](https://example.org/b.png) " + "A" * 700)
    assert "image_alt" not in codes(campaign)


def test_images_that_dominate_the_text_warn(campaign):
    campaign.articles.update(body="Kurz.", image_url="https://example.org/a.png", image_alt="Bild")
    assert codes(campaign)["image_ratio"] == WARN
    campaign.articles.update(body="A" * 400)
    assert "image_ratio" not in codes(campaign)


def test_a_mail_above_gmails_clipping_limit_warns(campaign):
    paragraphs = "\n\n".join(f"Absatz {n}: " + "Text " * 40 for n in range(600))
    campaign.articles.update(body=paragraphs)
    found = item(campaign, "mail_size")
    assert found.level == WARN
    assert "102 KB" in found.message
    campaign.articles.update(body="\n\n".join(paragraphs.split("\n\n")[:100]))
    assert "mail_size" not in codes(campaign)


def test_the_size_is_measured_on_the_rendered_mail():
    """Just under the limit in Markdown, over it once laid out: the layout's HTML counts."""
    news = MailingListFactory()
    SubscriptionFactory(mailing_list=news)
    campaign = CampaignFactory(mailing_lists=[news])
    # Each list item costs more HTML than Markdown ("- x" becomes "<li>x</li>" inside the layout).
    ArticleFactory(campaign=campaign, body="\n".join(f"- {n}" for n in range(GMAIL_CLIP_BYTES // 9)))
    assert len(campaign.articles.get().body.encode()) < GMAIL_CLIP_BYTES
    assert "mail_size" in codes(campaign)


def test_an_empty_audience_blocks(campaign, news):
    news.subscriptions.all().delete()
    assert codes(campaign) == {"audience_empty": BLOCK}


def test_no_list_blocks(campaign):
    campaign.mailing_lists.clear()
    assert codes(campaign) == {"audience_empty": BLOCK}


def test_everyone_on_every_list_warns(campaign, news):
    other = MailingListFactory(name="Other")
    SubscriptionFactory(mailing_list=other)
    assert "audience_everyone" not in codes(campaign)  # one of two lists
    campaign.mailing_lists.add(other)
    assert codes(campaign) == {"audience_everyone": WARN}
    campaign.include_tags.add(TagFactory())
    assert "audience_everyone" not in codes(campaign)


# Enforcement -------------------------------------------------------------------------------------


def test_a_blocking_item_refuses_the_send_and_changes_nothing(campaign):
    campaign.articles.update(body="[x](javascript:alert(1)) " + "A" * 400)
    with pytest.raises(ValidationError) as error:
        sending.campaign_start(campaign=campaign, warnings_confirmed=True)
    assert "http://" in " ".join(error.value.messages)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.started_at) == (Campaign.Status.DRAFT, None)
    assert not Delivery.objects.exists()


def test_warnings_refuse_the_send_until_confirmed(campaign, django_capture_on_commit_callbacks):
    campaign.articles.update(image_url="https://example.org/a.png", image_alt="")
    with pytest.raises(ChecklistWarnings) as error:
        sending.campaign_start(campaign=campaign)
    assert any("alt text" in message for message in error.value.messages)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not Delivery.objects.exists()
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign, warnings_confirmed=True)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    assert Delivery.objects.filter(campaign=campaign).count() == 1


def test_scheduling_asks_for_the_warnings_and_the_due_start_does_not_ask_again(
    campaign, django_capture_on_commit_callbacks
):
    campaign.articles.update(image_url="https://example.org/a.png", image_alt="")
    when = timezone.now() + timedelta(hours=1)
    with pytest.raises(ChecklistWarnings):
        lifecycle.campaign_schedule(campaign=campaign, scheduled_at=when)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    lifecycle.campaign_schedule(campaign=campaign, scheduled_at=when, warnings_confirmed=True)
    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now())
    with django_capture_on_commit_callbacks():
        assert sending.campaigns_start_due() == 1
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING


def test_a_due_campaign_that_became_blocked_does_not_start(campaign):
    lifecycle.campaign_schedule(campaign=campaign, scheduled_at=timezone.now() + timedelta(hours=1))
    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now(), subject="")
    assert sending.campaigns_start_due() == 0
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    assert not Delivery.objects.exists()
