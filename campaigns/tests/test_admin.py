from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.models import Article, Campaign
from campaigns.tests.factories import ArticleFactory, CampaignFactory, SubscriptionFactory, with_reader

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(admin_client):
    """These tests read the English wording of the admin (the site default is German)."""
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def campaign():
    campaign = CampaignFactory(name="Oktober", subject='Hallo {{ subscriber.first_name|default:"Leserin" }}')
    ArticleFactory(campaign=campaign, position=0, headline="Erster Artikel")
    ArticleFactory(campaign=campaign, position=1, headline="Zweiter Artikel")
    return campaign


def url(name, *args):
    return reverse(f"admin:campaigns_campaign_{name}", args=args)


def test_changelist_shows_campaigns_with_coloured_status(admin_client, campaign):
    response = admin_client.get(url("changelist"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Oktober" in content
    assert "background:#6b7280" in content and ">draft<" in content


def test_change_form_shows_articles_inline_in_position_order(admin_client, campaign):
    response = admin_client.get(url("change", campaign.pk))
    content = response.content.decode()
    assert response.status_code == 200
    assert content.index("Erster Artikel") < content.index("Zweiter Artikel")
    assert url("preview", campaign.pk) in content
    assert url("send_test", campaign.pk) in content
    assert "Subscribers targeted now" in content


def inline_data(campaign, articles, **changes):
    data = {
        "name": campaign.name,
        "subject": campaign.subject,
        "preheader": campaign.preheader,
        "language": campaign.language,
        "from_name": campaign.from_name,
        "from_email": campaign.from_email,
        "kind": campaign.kind,
        "reply_to": "",
        "layout": campaign.layout,
        "mailing_lists": [ml.pk for ml in campaign.mailing_lists.all()],
        "articles-TOTAL_FORMS": str(len(articles)),
        "articles-INITIAL_FORMS": str(len(articles)),
        "articles-MIN_NUM_FORMS": "0",
        "articles-MAX_NUM_FORMS": "1000",
    }
    for index, article in enumerate(articles):
        data.update(
            {
                f"articles-{index}-id": str(article.pk),
                f"articles-{index}-campaign": str(campaign.pk),
                f"articles-{index}-position": str(article.position),
                f"articles-{index}-headline": article.headline,
                f"articles-{index}-body": article.body,
                f"articles-{index}-image_url": article.image_url,
                f"articles-{index}-image_alt": article.image_alt,
                f"articles-{index}-link_url": article.link_url,
                f"articles-{index}-cta_text": article.cta_text,
            }
        )
    data.update(changes)
    return data


def test_reordering_articles_through_the_position_field(admin_client, campaign):
    first, second = campaign.articles.all()
    data = inline_data(campaign, [first, second], **{"articles-0-position": "5", "articles-1-position": "1"})
    response = admin_client.post(url("change", campaign.pk), data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    assert [a.headline for a in campaign.articles.all()] == ["Zweiter Artikel", "Erster Artikel"]
    assert {a.public_id for a in campaign.articles.all()} == {first.public_id, second.public_id}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "{{ settings.SECRET_KEY }}"),
        ("subject", "{% include 'x' %}"),
        ("articles-0-body", "{% for i in x %}{% endfor %}"),
        ("articles-0-headline", "{{ subscriber.email|safe }}"),
    ],
)
def test_saving_forbidden_template_syntax_shows_a_validation_error(admin_client, campaign, field, value):
    articles = list(campaign.articles.all())
    response = admin_client.post(url("change", campaign.pk), inline_data(campaign, articles, **{field: value}))
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    campaign.refresh_from_db()
    assert "SECRET_KEY" not in campaign.subject and "{%" not in campaign.subject


def test_campaign_is_read_only_once_sending(admin_client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    response = admin_client.get(url("change", campaign.pk))
    content = response.content.decode()
    assert 'name="subject"' not in content
    assert 'name="articles-0-headline"' not in content
    data = inline_data(campaign, list(campaign.articles.all()), subject="Changed")
    admin_client.post(url("change", campaign.pk), data)
    campaign.refresh_from_db()
    assert campaign.subject != "Changed"


def test_preview_page_has_desktop_and_phone_frames_and_text_tab(admin_client, campaign):
    subscription = SubscriptionFactory(subscriber__first_name="Greta")
    campaign.mailing_lists.set([subscription.mailing_list])
    response = admin_client.get(url("preview", campaign.pk))
    content = response.content.decode()
    assert response.status_code == 200
    assert content.count("<iframe") == 2
    assert 'width="700"' in content and 'width="375"' in content
    assert "Hallo Greta" in content  # subject for the sample subscriber
    assert "Erster Artikel" in content  # text tab

    html = admin_client.get(url("preview_html", campaign.pk))
    assert html.status_code == 200
    assert html["X-Frame-Options"] == "SAMEORIGIN"
    assert "Zweiter Artikel" in html.content.decode()
    # The sample subscriber's own links would work for whoever follows them; the preview shows inert ones.
    assert "/unsubscribe/" not in html.content.decode()
    assert f"/subscribe/{subscription.mailing_list.slug}/" in html.content.decode()


def test_preview_without_subscribers_uses_merge_tag_defaults(admin_client, campaign):
    response = admin_client.get(url("preview", campaign.pk))
    assert "Hallo Leserin" in response.content.decode()


def test_preview_requires_staff(client, campaign):
    response = client.get(url("preview_html", campaign.pk))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_send_test_mails_each_address_with_test_prefix(admin_client, campaign):
    response = admin_client.post(
        url("send_test", campaign.pk), {"addresses": "a@example.org, b@example.org\nc@example.org"}
    )
    assert response.status_code == 302
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.org", "b@example.org", "c@example.org"]
    message = mail.outbox[0]
    assert message.subject == "[Test] Hallo Leserin"
    assert message.from_email == "Kanal <news@example.com>"
    assert "Erster Artikel" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and "Zweiter Artikel" in html
    assert message.metadata == {"kind": "campaign-test", "campaign_id": str(campaign.pk)}


def test_send_test_personalises_as_a_chosen_subscriber(admin_client, campaign):
    subscription = SubscriptionFactory(subscriber__first_name="Greta", subscriber__email="greta@example.org")
    campaign.mailing_lists.set([subscription.mailing_list])
    admin_client.post(
        url("send_test", campaign.pk), {"addresses": "staff@example.org", "as_subscriber": "greta@example.org"}
    )
    assert mail.outbox[0].subject == "[Test] Hallo Greta"


def test_send_test_refuses_more_than_five_addresses(admin_client, campaign):
    addresses = ",".join(f"s{n}@example.org" for n in range(6))
    response = admin_client.post(url("send_test", campaign.pk), {"addresses": addresses})
    assert response.status_code == 200
    assert "at most 5" in response.content.decode()
    assert mail.outbox == []


def test_send_test_refuses_invalid_addresses(admin_client, campaign):
    response = admin_client.post(url("send_test", campaign.pk), {"addresses": "nope"})
    assert "is not an email address" in response.content.decode()
    assert mail.outbox == []


def test_duplicate_button_creates_a_draft_copy(admin_client, campaign):
    response = admin_client.post(url("duplicate", campaign.pk))
    copy = Campaign.objects.filter(is_template=False).exclude(pk=campaign.pk).get()
    assert response["Location"] == url("change", copy.pk)
    assert copy.articles.count() == 2
    assert set(copy.articles.values_list("public_id", flat=True)).isdisjoint(
        campaign.articles.values_list("public_id", flat=True)
    )


def test_duplicate_action_on_changelist(admin_client, campaign):
    admin_client.post(url("changelist"), {"action": "duplicate_action", ACTION_CHECKBOX_NAME: [campaign.pk]})
    assert Campaign.objects.filter(is_template=False).count() == 2
    assert Article.objects.filter(campaign__is_template=False).count() == 4


def test_schedule_action_asks_for_a_time_then_schedules(admin_client, campaign):
    other = with_reader(ArticleFactory().campaign)
    with_reader(campaign)
    selected = {"action": "schedule_action", ACTION_CHECKBOX_NAME: [campaign.pk, other.pk]}
    form = admin_client.post(url("changelist"), selected)
    assert form.status_code == 200
    assert 'name="scheduled_at"' in form.content.decode()

    when = timezone.localtime(timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    response = admin_client.post(
        url("changelist"), {**selected, "apply": "1", "scheduled_at": when.strftime("%Y-%m-%dT%H:%M")}
    )
    assert response.status_code == 302
    for scheduled in (campaign, other):
        scheduled.refresh_from_db()
        assert scheduled.status == Campaign.Status.SCHEDULED
        assert scheduled.scheduled_at == when


def test_schedule_page_shows_why_a_campaign_cannot_be_scheduled(admin_client):
    empty = CampaignFactory(mailing_lists=[])
    when = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = admin_client.post(url("schedule", empty.pk), {"apply": "1", "scheduled_at": when})
    assert response.status_code == 200
    assert "Add at least one article." in response.content.decode()
    empty.refresh_from_db()
    assert empty.status == Campaign.Status.DRAFT


def test_cancel_action_and_button(admin_client, campaign):
    campaign_two = ArticleFactory().campaign
    admin_client.post(url("changelist"), {"action": "cancel_action", ACTION_CHECKBOX_NAME: [campaign.pk]})
    admin_client.post(url("cancel", campaign_two.pk))
    for cancelled in (campaign, campaign_two):
        cancelled.refresh_from_db()
        assert cancelled.status == Campaign.Status.CANCELLED


def test_cancel_of_a_sent_campaign_reports_an_error(admin_client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENT)
    response = admin_client.post(url("cancel", campaign.pk), follow=True)
    assert "cannot be cancelled" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT


def test_schedule_button_opens_a_form_with_the_time_zone(admin_client, campaign, settings):
    response = admin_client.get(url("schedule", campaign.pk))
    content = response.content.decode()
    assert response.status_code == 200
    assert 'type="datetime-local"' in content
    assert settings.TIME_ZONE in content
