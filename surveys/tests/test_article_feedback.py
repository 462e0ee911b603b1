"""Per-article "was this useful?" figures, and where staff find them and the mail's survey."""

import pytest
from django.urls import reverse
from django.utils import translation

from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.tests.factories import SubscriberFactory
from surveys.selectors import campaign_article_feedback
from surveys.services import article_feedback_record
from surveys.tests.factories import SurveyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign():
    campaign = CampaignFactory(article_feedback_enabled=True)
    ArticleFactory(campaign=campaign, position=1, headline="Zweiter")
    ArticleFactory(campaign=campaign, position=0, headline="Erster")
    return campaign


def vote(article, *answers):
    for useful in answers:
        article_feedback_record(article=article, useful=useful, subscriber=SubscriberFactory())


def test_useful_and_not_useful_counted_per_article_in_layout_order(campaign):
    first, second = campaign.articles.order_by("position")
    vote(first, True, True, False)
    vote(second, False)
    vote(ArticleFactory(), True)  # another campaign's article
    rows = campaign_article_feedback(campaign=campaign)
    assert [(row.headline, row.useful, row.not_useful, row.useful_percent) for row in rows] == [
        ("Erster", 2, 1, 67),
        ("Zweiter", 0, 1, 0),
    ]


def test_an_article_without_answers_has_no_share(campaign):
    assert [row.useful_percent for row in campaign_article_feedback(campaign=campaign)] == [None, None]


def test_the_campaign_page_shows_the_switch_the_mail_survey_and_the_figures(admin_client, campaign):
    vote(campaign.articles.get(headline="Erster"), True, False, True)
    survey = SurveyFactory(campaign=campaign, title="Wie war's?")
    with translation.override("en"):
        page = admin_client.get(
            reverse("admin:campaigns_campaign_change", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
    assert 'name="article_feedback_enabled"' in page
    assert "Wie war's?" in page or "Wie war&#x27;s?" in page
    assert reverse("surveys:results", args=[survey.pk]) in page
    assert "<td>Erster</td><td>2</td><td>1</td><td>67</td>" in page


def test_a_campaign_has_at_most_one_survey(admin_client, campaign):
    SurveyFactory(campaign=campaign)
    data = {
        "title": "Noch eine",
        "slug": "noch-eine",
        "campaign": campaign.pk,
        "intro": "",
        "thank_you_text": "",
        "questions-TOTAL_FORMS": "0",
        "questions-INITIAL_FORMS": "0",
        "questions-MIN_NUM_FORMS": "0",
        "questions-MAX_NUM_FORMS": "1000",
    }
    with translation.override("en"):
        response = admin_client.post(reverse("admin:surveys_survey_add"), data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "This campaign already has a survey." in response.content.decode()
    assert campaign.surveys.count() == 1
