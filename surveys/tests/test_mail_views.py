"""The pages behind the one-click links in campaign mails: a GET shows, only a reader's POST stores."""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from subscribers import antispam
from subscribers.services.gdpr import subscriber_erase
from surveys import tokens
from surveys.models import Answer, ArticleFeedback, Question, Response
from surveys.tests.conftest import BROWSER
from surveys.tests.factories import DeliveryFactory, QuestionFactory, SurveyFactory
from tracking import tokens as tracking_tokens

pytestmark = pytest.mark.django_db

SCANNERS = [
    "",
    "Mozilla/5.0",
    "python-requests/2.32.3",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
]


@pytest.fixture(autouse=True)
def _human_speed(settings):
    settings.KANAL_SIGNUP_MIN_FILL_SECONDS = 0


def path(url: str) -> str:
    return urlsplit(url).path


def answer_path(mail, value, *, question=None, delivery=None) -> str:
    delivery = delivery or mail.delivery
    return path(tokens.answer_url(delivery_id=delivery.pk, question_id=(question or mail.nps).pk, value=value))


def feedback_path(mail, *, useful: bool, article=None) -> str:
    article = article or mail.articles[0]
    return path(tokens.feedback_url(delivery_id=mail.delivery.pk, article_id=article.pk, useful=useful))


def confirm(client, url, *, user_agent=BROWSER, script=True):
    headers = {"HTTP_ACCEPT": "application/json"} if script else {}
    return client.post(url, {"step": "confirm"}, HTTP_USER_AGENT=user_agent, **headers)


def survey_data(mail, **overrides):
    data = {
        "step": "survey",
        "started": antispam.form_started_token(),
        "website": "",
        f"q{mail.nps.pk}": "9",
        f"q{mail.rating.pk}": "4",
        f"q{mail.single.pk}": str(mail.culture.pk),
        f"q{mail.multiple.pk}": [str(mail.news.pk)],
        f"q{mail.free.pk}": "Gern mehr davon.",
    }
    data.update(overrides)
    return data


def nothing_stored():
    return Response.objects.count() == 0 and Answer.objects.count() == 0 and ArticleFeedback.objects.count() == 0


def checked_value(html: str, question) -> str | None:
    for tag in re.findall(rf'<input[^>]*name="q{question.pk}"[^>]*>', html):
        if "checked" in tag:
            return re.search(r'value="([^"]*)"', tag).group(1)
    return None


# Survey answers


def test_opening_an_answer_link_shows_that_answer_selected_and_stores_nothing(client, mail):
    response = client.get(answer_path(mail, 9), HTTP_USER_AGENT=BROWSER)
    html = response.content.decode()
    assert response.status_code == 200
    assert checked_value(html, mail.nps) == "9"
    assert "data-auto-confirm" in html, "a browser confirms by itself"
    assert "surveys/confirm.js" in html
    for question in (mail.rating, mail.single, mail.multiple, mail.free):
        assert question.text in html, "the rest of the survey is below"
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    assert nothing_stored()


@pytest.mark.parametrize("user_agent", SCANNERS)
def test_scanners_store_nothing_whatever_they_request(client, mail, user_agent):
    url = answer_path(mail, 9)
    page = client.get(url, HTTP_USER_AGENT=user_agent)
    assert page.status_code == 200
    assert "data-auto-confirm" not in page.content.decode(), "no automatic POST for a machine-looking visit"
    assert client.head(url, HTTP_USER_AGENT=user_agent).status_code == 200
    refused = confirm(client, url, user_agent=user_agent)
    assert refused.status_code == 403
    assert refused.json() == {"saved": False, "error": ""}
    assert confirm(client, url, user_agent=user_agent, script=False).status_code == 403
    assert client.post(url, survey_data(mail), HTTP_USER_AGENT=user_agent).status_code == 403
    assert nothing_stored()


def test_a_head_request_with_a_browser_agent_stores_nothing(client, mail):
    assert client.head(answer_path(mail, 9), HTTP_USER_AGENT=BROWSER).status_code == 200
    assert nothing_stored()


def test_a_post_seconds_after_sending_is_not_counted(client, mail, settings):
    settings.KANAL_TRACKING_SCANNER_SECONDS = 10
    fresh = DeliveryFactory(campaign=mail.campaign, sent_at=timezone.now())
    url = answer_path(mail, 9, delivery=fresh)
    assert "data-auto-confirm" not in client.get(url, HTTP_USER_AGENT=BROWSER).content.decode()
    assert confirm(client, url).status_code == 403
    assert nothing_stored()


def test_the_script_confirms_the_answer_for_the_subscriber(client, mail):
    url = answer_path(mail, 9)
    outcome = confirm(client, url)
    assert outcome.status_code == 200 and outcome.json()["saved"] is True
    stored = Response.objects.get()
    assert stored.subscriber == mail.subscriber
    assert stored.source == Response.Source.MAIL
    assert stored.delivery_id == mail.delivery.pk
    assert Answer.objects.get(response=stored, question=mail.nps).value == 9
    page = client.get(url, HTTP_USER_AGENT=BROWSER).content.decode()
    assert "data-confirm-form" not in page, "opening the link again shows it saved, nothing to confirm"
    assert checked_value(page, mail.nps) == "9"


def test_without_javascript_the_button_confirms_and_leads_back_to_the_page(client, mail):
    url = answer_path(mail, 6)
    response = confirm(client, url, script=False)
    assert response.status_code == 302 and response["Location"] == url
    assert Answer.objects.get(question=mail.nps).value == 6


def test_a_single_choice_answer_link_selects_and_stores_that_option(client, mail):
    url = answer_path(mail, mail.politics.pk, question=mail.single)
    page = client.get(url, HTTP_USER_AGENT=BROWSER).content.decode()
    assert checked_value(page, mail.single) == str(mail.politics.pk)
    confirm(client, url)
    assert list(Answer.objects.get(question=mail.single).choices.all()) == [mail.politics]


def test_the_rest_of_the_survey_completes_the_same_response(client, mail):
    url = answer_path(mail, 9)
    confirm(client, url)
    response = client.post(url, survey_data(mail), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302 and response["Location"] == url + "?done=1"
    thanks = client.get(response["Location"], HTTP_USER_AGENT=BROWSER).content.decode()
    assert mail.survey.thank_you_text in thanks
    assert f'href="{url}"' in thanks, "the thank-you page leads back to change the answers"
    stored = Response.objects.get()
    assert stored.subscriber == mail.subscriber
    values = {answer.question_id: answer for answer in stored.answers.all()}
    assert values[mail.nps.pk].value == 9 and values[mail.rating.pk].value == 4
    assert values[mail.free.pk].text == "Gern mehr davon."


def test_clicking_another_answer_later_edits_only_that_answer(client, mail):
    url = answer_path(mail, 9)
    client.post(url, survey_data(mail), HTTP_USER_AGENT=BROWSER)
    confirm(client, answer_path(mail, 3))
    assert Response.objects.count() == 1
    assert Answer.objects.get(question=mail.nps).value == 3
    assert Answer.objects.get(question=mail.rating).value == 4, "the other answers stay"
    assert Answer.objects.get(question=mail.free).text == "Gern mehr davon."


@pytest.mark.parametrize(
    "overrides",
    [
        {"rating": "7"},  # out of range
        {"nps": "11"},
        {"single": "999999"},  # unknown choice
        {"multiple": ["999999"]},
        {"free": "x" * 5_001},
    ],
)
def test_bad_answers_in_the_survey_form_store_nothing(client, mail, overrides):
    fields = {f"q{getattr(mail, name).pk}": value for name, value in overrides.items()}
    response = client.post(answer_path(mail, 9), survey_data(mail, **fields), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 400
    assert 'class="invalid-feedback' in response.content.decode() or "alert" in response.content.decode()
    assert nothing_stored()


def test_a_filled_honeypot_stores_nothing(client, mail):
    response = client.post(answer_path(mail, 9), survey_data(mail, website="http://spam"), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302
    assert nothing_stored()


def bad_answer_tokens(mail):
    good = tokens.answer_url(delivery_id=mail.delivery.pk, question_id=mail.nps.pk, value=9).rsplit("/", 1)[1]
    return {
        "tampered": good[:-1] + ("A" if good[-1] != "A" else "B"),
        "forged": "A" * 40,
        "tracking click": tracking_tokens.click_url(delivery_id=mail.delivery.pk, link_id=1).rsplit("/", 1)[1],
        "feedback": feedback_path(mail, useful=True).rsplit("/", 1)[1],
        "preview": tokens.preview_url(tokens.PREVIEW_ANSWER, mail.nps.pk, 9).rsplit("/", 1)[1],
        "unknown delivery": tokens.answer_url(delivery_id=999_999, question_id=mail.nps.pk, value=9).rsplit("/", 1)[1],
        "unknown question": tokens.answer_url(delivery_id=mail.delivery.pk, question_id=999_999, value=9).rsplit(
            "/", 1
        )[1],
    }


@pytest.mark.parametrize(
    "kind", ["tampered", "forged", "tracking click", "feedback", "preview", "unknown delivery", "unknown question"]
)
def test_bad_answer_links_are_not_found_and_store_nothing(client, mail, kind):
    url = "/s/a/" + bad_answer_tokens(mail)[kind]
    assert client.get(url, HTTP_USER_AGENT=BROWSER).status_code == 404
    assert confirm(client, url).status_code == 404
    assert client.post(url, survey_data(mail), HTTP_USER_AGENT=BROWSER).status_code == 404
    assert nothing_stored()


def test_a_link_of_an_erased_subscriber_no_longer_works(client, mail):
    url = answer_path(mail, 9)
    subscriber_erase(subscriber=mail.subscriber)
    assert client.get(url, HTTP_USER_AGENT=BROWSER).status_code == 404
    assert confirm(client, url).status_code == 404
    assert nothing_stored()


@pytest.mark.parametrize("case", ["deleted choice", "score out of range"])
def test_a_signed_answer_the_question_no_longer_takes_gets_a_clear_error(client, mail, case):
    mail.campaign.language = "en"  # the page speaks the mail's language
    mail.campaign.save(update_fields=["language"])
    if case == "deleted choice":
        url = answer_path(mail, mail.politics.pk, question=mail.single)
        mail.politics.delete()
    else:
        url = answer_path(mail, 11)  # signed by Kanal, but NPS ends at 10
    page = client.get(url, HTTP_USER_AGENT=BROWSER)
    assert page.status_code == 400
    assert "no longer available" in page.content.decode()
    outcome = confirm(client, url)
    assert outcome.status_code == 400 and outcome.json()["saved"] is False
    assert nothing_stored()


def test_the_post_needs_the_pages_csrf_token(mail):
    strict = Client(enforce_csrf_checks=True)
    url = answer_path(mail, 9)
    assert strict.post(url, {"step": "confirm"}, HTTP_USER_AGENT=BROWSER).status_code == 403
    assert nothing_stored()
    page = strict.get(url, HTTP_USER_AGENT=BROWSER).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    with_token = strict.post(url, {"step": "confirm", "csrfmiddlewaretoken": csrf}, HTTP_USER_AGENT=BROWSER)
    assert with_token.status_code == 302
    assert Answer.objects.get().value == 9


# A first question without one-click answers: the mail has one "answer the survey" button.


@pytest.fixture
def open_survey(mail):
    survey = SurveyFactory(is_public=False, campaign=None)
    free = QuestionFactory(survey=survey, position=0, kind=Question.Kind.FREE_TEXT, text="Was fehlt?", required=True)
    url = path(tokens.open_url(delivery_id=mail.delivery.pk, survey_id=survey.pk))
    return survey, free, url


def test_the_open_survey_link_shows_the_survey_and_stores_only_on_post(client, mail, open_survey):
    survey, free, url = open_survey
    page = client.get(url, HTTP_USER_AGENT=BROWSER)
    assert page.status_code == 200 and free.text in page.content.decode()
    assert "data-confirm-form" not in page.content.decode()
    assert nothing_stored()
    data = {"step": "survey", "started": antispam.form_started_token(), f"q{free.pk}": "Rätsel"}
    assert client.post(url, data, HTTP_USER_AGENT=SCANNERS[2]).status_code == 403
    assert nothing_stored()
    assert client.post(url, {**data, f"q{free.pk}": ""}, HTTP_USER_AGENT=BROWSER).status_code == 400
    assert nothing_stored()
    response = client.post(url, data, HTTP_USER_AGENT=BROWSER)
    assert response["Location"] == url + "?done=1"
    stored = Response.objects.get()
    assert stored.survey == survey and stored.subscriber == mail.subscriber
    assert stored.answers.get().text == "Rätsel"


# Article feedback


def test_feedback_link_shows_the_answer_and_stores_nothing_until_confirmed(client, mail):
    url = feedback_path(mail, useful=True)
    page = client.get(url, HTTP_USER_AGENT=BROWSER)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Erster Artikel" in html and "data-auto-confirm" in html
    assert nothing_stored()
    assert confirm(client, url).json()["saved"] is True
    feedback = ArticleFeedback.objects.get()
    assert (feedback.article, feedback.subscriber, feedback.useful) == (mail.articles[0], mail.subscriber, True)
    assert feedback.delivery_id == mail.delivery.pk


def test_changing_the_feedback_edits_the_same_row(client, mail):
    url = feedback_path(mail, useful=True)
    confirm(client, url)
    other = re.search(r'href="([^"]+)" data-other-answer', client.get(url, HTTP_USER_AGENT=BROWSER).content.decode())
    assert other.group(1).endswith(feedback_path(mail, useful=False))
    confirm(client, feedback_path(mail, useful=False), script=False)
    assert list(ArticleFeedback.objects.values_list("useful", flat=True)) == [False]


@pytest.mark.parametrize("user_agent", SCANNERS)
def test_feedback_from_scanners_is_not_counted(client, mail, user_agent):
    url = feedback_path(mail, useful=False)
    assert "data-auto-confirm" not in client.get(url, HTTP_USER_AGENT=user_agent).content.decode()
    assert confirm(client, url, user_agent=user_agent).status_code == 403
    assert nothing_stored()


def test_feedback_links_must_name_an_article_of_the_delivered_campaign(client, mail):
    from campaigns.tests.factories import ArticleFactory

    foreign = ArticleFactory()
    url = path(tokens.feedback_url(delivery_id=mail.delivery.pk, article_id=foreign.pk, useful=True))
    assert client.get(url, HTTP_USER_AGENT=BROWSER).status_code == 404
    assert confirm(client, url).status_code == 404
    answer_token = answer_path(mail, 9).rsplit("/", 1)[1]
    assert client.get("/s/f/" + answer_token, HTTP_USER_AGENT=BROWSER).status_code == 404
    assert nothing_stored()


# Preview links (test mails, the admin preview, the archive page)


def test_preview_links_show_the_survey_and_can_never_store(client, mail):
    url = path(tokens.preview_url(tokens.PREVIEW_ANSWER, mail.nps.pk, 7))
    page = client.get(url, HTTP_USER_AGENT=BROWSER)
    assert page.status_code == 200
    html = page.content.decode()
    assert "data-preview" in html and checked_value(html, mail.nps) == "7"
    assert "data-confirm-form" not in html
    assert client.post(url, survey_data(mail), HTTP_USER_AGENT=BROWSER).status_code == 405
    feedback = path(tokens.preview_url(tokens.PREVIEW_FEEDBACK, mail.articles[0].pk, 1))
    assert "data-preview" in client.get(feedback, HTTP_USER_AGENT=BROWSER).content.decode()
    assert client.post(feedback, {"step": "confirm"}, HTTP_USER_AGENT=BROWSER).status_code == 405
    assert client.get("/s/p/" + "B" * 40).status_code == 404
    assert nothing_stored()


# A forwarded mail can answer, but it never reads what the subscriber answered before.


def test_a_forwarded_answer_link_does_not_show_the_subscribers_earlier_answers(client, mail):
    url = answer_path(mail, 9)
    confirm(client, url)
    client.post(url, survey_data(mail, **{f"q{mail.free.pk}": "Meine private Meinung"}), HTTP_USER_AGENT=BROWSER)
    assert Answer.objects.filter(text="Meine private Meinung").exists()
    stranger = Client()
    for link in (url, answer_path(mail, 3)):
        html = stranger.get(link, HTTP_USER_AGENT=BROWSER).content.decode()
        assert "Meine private Meinung" not in html
        assert checked_value(html, mail.single) is None, "earlier choices stay unknown to the link holder"


def test_a_forwarded_open_survey_link_does_not_show_earlier_answers(client, mail, open_survey):
    _survey, free, url = open_survey
    data = {"step": "survey", "started": antispam.form_started_token(), f"q{free.pk}": "Nur für mich"}
    assert client.post(url, data, HTTP_USER_AGENT=BROWSER).status_code == 302
    html = Client().get(url, HTTP_USER_AGENT=BROWSER).content.decode()
    assert "Nur für mich" not in html
