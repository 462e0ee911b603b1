"""The editor's live preview: the change form as posted, rendered like the mail, never saved."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from campaigns.models import Article, Campaign
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.testing import staff_login
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory
from tracking.models import TrackedLink

pytestmark = pytest.mark.django_db

CHANGE_CAMPAIGN, VIEW_CAMPAIGN = "campaigns.change_campaign", "campaigns.view_campaign"
VIEW_SUBSCRIBER = "subscribers.view_subscriber"


def url(campaign):
    return reverse("admin:campaigns_campaign_editor_preview", args=[campaign.pk])


def change_form(campaign, **changes) -> dict:
    """What the change page posts: the campaign's fields and its article inline (prefix "articles").
    ``changes`` override fields: ``subject="…"``, ``articles_0_body="…"``."""
    articles = list(campaign.articles.order_by("position", "pk"))
    data = {
        "subject": campaign.subject,
        "preheader": campaign.preheader,
        "from_name": campaign.from_name,
        "articles-TOTAL_FORMS": str(len(articles)),
        "articles-INITIAL_FORMS": str(len(articles)),
        "articles-MIN_NUM_FORMS": "0",
        "articles-MAX_NUM_FORMS": "1000",
    }
    for index, article in enumerate(articles):
        prefix = f"articles-{index}-"
        data |= {
            prefix + "id": str(article.pk),
            prefix + "campaign": str(campaign.pk),
            prefix + "position": str(article.position),
            prefix + "headline": article.headline,
            prefix + "body": article.body,
            prefix + "image_url": article.image_url,
            prefix + "image_alt": article.image_alt,
            prefix + "link_url": article.link_url,
            prefix + "cta_text": article.cta_text,
            prefix + "segment": "",
        }
    for name, value in changes.items():
        if name.startswith("articles_"):
            _articles, index, field = name.split("_", 2)
            name = f"articles-{index}-{field}"
        data[name] = value
    return data


def counts() -> tuple[int, int, int]:
    return Campaign.objects.count(), Article.objects.count(), TrackedLink.objects.count()


@pytest.fixture
def campaign():
    campaign = CampaignFactory(
        subject='Neues für {{ subscriber.first_name|default:"Leserin" }}', preheader="Die Themen", language="de"
    )
    ArticleFactory(campaign=campaign, position=0, headline="Erster Artikel", body="Alter Text")
    ArticleFactory(campaign=campaign, position=1, headline="Zweiter Artikel", body="Noch ein Text")
    return campaign


def test_preview_renders_the_unsaved_form_and_writes_nothing(client, campaign):
    staff_login(client, CHANGE_CAMPAIGN)
    before = counts()
    data = change_form(
        campaign,
        subject='Geänderter Betreff für {{ subscriber.first_name|default:"Leserin" }}',
        preheader="Neuer Vorspann",
        articles_0_body="Ganz **neuer** Text mit [Link](https://example.org/neu)",
        articles_0_position="1",  # the second article moved above the first
        articles_1_position="0",
    )
    response = client.post(url(campaign), data)

    assert response.status_code == 200
    result = response.json()
    assert result["errors"] == []
    assert result["subject"] == "Geänderter Betreff für Leserin"
    assert result["preheader"] == "Neuer Vorspann"
    assert "Ganz <strong>neuer</strong> Text" in result["html"]
    assert 'href="https://example.org/neu"' in result["html"]  # the link itself, not a tracked one
    assert "Neuer Vorspann" in result["html"]
    assert result["html"].index("Zweiter Artikel") < result["html"].index("Erster Artikel")
    assert "Alter Text" not in result["html"]
    assert counts() == before
    campaign.refresh_from_db()
    assert campaign.subject.startswith("Neues für")
    assert list(campaign.articles.values_list("body", flat=True)) == ["Alter Text", "Noch ein Text"]


def test_new_and_deleted_articles_show_as_the_form_says(client, campaign):
    staff_login(client, CHANGE_CAMPAIGN)
    data = change_form(campaign, articles_0_DELETE="on")
    data |= {
        "articles-TOTAL_FORMS": "3",
        "articles-2-campaign": str(campaign.pk),
        "articles-2-position": "2",
        "articles-2-headline": "Ganz neuer Artikel",
        "articles-2-body": "Noch nicht gespeichert",
    }
    before = counts()
    html = client.post(url(campaign), data).json()["html"]
    assert "Erster Artikel" not in html
    assert "Ganz neuer Artikel" in html and "Noch nicht gespeichert" in html
    assert counts() == before


def test_merge_tags_are_filled_from_a_subscriber_for_staff_who_may_see_subscribers(client, campaign):
    SubscriptionFactory(mailing_list=campaign.mailing_lists.get(), subscriber=SubscriberFactory(first_name="Walburga"))
    data = change_form(campaign, articles_0_body='Hallo {{ subscriber.first_name|default:"du" }}!')
    staff_login(client, CHANGE_CAMPAIGN)
    result = client.post(url(campaign), data).json()
    assert "Hallo du!" in result["html"] and "Walburga" not in result["html"]

    get_user_model().objects.filter(username="staff").delete()
    other = Client()
    staff_login(other, CHANGE_CAMPAIGN, VIEW_SUBSCRIBER)
    result = other.post(url(campaign), data).json()
    assert "Hallo Walburga!" in result["html"]
    assert result["subject"] == "Neues für Walburga"


def test_an_invalid_field_is_reported_and_keeps_its_saved_value(client, campaign):
    staff_login(client, CHANGE_CAMPAIGN)
    data = change_form(campaign, articles_0_body="Hallo {{ subscriber.password }}", preheader="Vorspann neu")
    result = client.post(url(campaign), data).json()
    assert any("subscriber.password" in error for error in result["errors"])
    assert "Alter Text" in result["html"]
    assert result["preheader"] == "Vorspann neu"


def test_staff_without_change_permission_get_403(client, campaign):
    staff_login(client, VIEW_CAMPAIGN, VIEW_SUBSCRIBER)
    response = client.post(url(campaign), change_form(campaign, articles_0_body="Geheim"))
    assert response.status_code == 403


def test_get_changes_nothing_and_post_needs_the_csrf_token(campaign):
    client = Client(enforce_csrf_checks=True)
    staff_login(client, CHANGE_CAMPAIGN)
    assert client.get(url(campaign)).status_code == 405
    assert client.post(url(campaign), change_form(campaign)).status_code == 403
    token = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).cookies["csrftoken"].value
    response = client.post(url(campaign), change_form(campaign), HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_ten_articles_render(client):
    campaign = CampaignFactory()
    for position in range(10):
        ArticleFactory(
            campaign=campaign,
            position=position,
            body=f"Absatz **{position}** mit [Link](https://example.org/{position}).\n\n- eins\n- zwei\n\n> Zitat",
            image_url=f"https://example.org/{position}.jpg",
            image_alt="Bild",
        )
    staff_login(client, CHANGE_CAMPAIGN)
    data = change_form(campaign)
    response = client.post(url(campaign), data)  # its server time: bench/editor_preview.py
    assert response.status_code == 200
    html = response.json()["html"]
    assert all(f"https://example.org/{n}.jpg" in html and f"Absatz <strong>{n}</strong>" in html for n in range(10))


def test_change_page_offers_the_editor_only_to_staff_who_may_change(client, campaign):
    staff_login(client, CHANGE_CAMPAIGN)
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'id="kanal-preview"' in page and url(campaign) in page
    assert "{{ subscriber.first_name }}" in page  # the merge tag picker's choices

    get_user_model().objects.filter(username="staff").delete()
    viewer = Client()
    staff_login(viewer, VIEW_CAMPAIGN)
    page = viewer.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'id="kanal-preview"' not in page


ADD_CAMPAIGN = "campaigns.add_campaign"
ADD_URL = "/admin/campaigns/campaign/add/editor-preview/"


def new_campaign_form(**fields) -> dict:
    """What the add page posts before its first save: no ids anywhere."""
    return {
        "subject": "",
        "preheader": "",
        "from_name": "",
        "articles-TOTAL_FORMS": "2",
        "articles-INITIAL_FORMS": "0",
        "articles-MIN_NUM_FORMS": "0",
        "articles-MAX_NUM_FORMS": "1000",
        "articles-0-position": "0",
        "articles-1-position": "1",
        **fields,
    }


def test_a_new_campaign_is_previewed_before_its_first_save(client):
    assert reverse("admin:campaigns_campaign_add_editor_preview") == ADD_URL
    SubscriptionFactory(subscriber=SubscriberFactory(first_name="Rita"))  # not shown: no list chosen yet
    staff_login(client, ADD_CAMPAIGN, VIEW_SUBSCRIBER)
    before = counts()
    response = client.post(
        ADD_URL,
        new_campaign_form(
            subject='Hallo {{ subscriber.first_name|default:"Leserin" }}',
            preheader="Erste Ausgabe",
            **{"articles-0-headline": "Ganz neu", "articles-0-body": "Noch **nie** gespeichert"},
        ),
    )
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["subject"] == "Hallo Leserin"
    assert result["preheader"] == "Erste Ausgabe"
    assert "Ganz neu" in result["html"] and "Noch <strong>nie</strong> gespeichert" in result["html"]
    assert "Ganz neu" in result["text"]
    assert counts() == before


def test_the_add_page_offers_the_editor_only_to_staff_who_may_add(client):
    staff_login(client, ADD_CAMPAIGN, CHANGE_CAMPAIGN, VIEW_CAMPAIGN)
    page = client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert 'id="kanal-preview"' in page and f'data-url="{ADD_URL}"' in page

    get_user_model().objects.filter(username="staff").delete()
    changer = Client()
    staff_login(changer, CHANGE_CAMPAIGN, VIEW_CAMPAIGN)
    assert changer.post(ADD_URL, new_campaign_form(subject="x")).status_code == 403
