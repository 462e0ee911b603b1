import csv
import io
import re

import pytest
from django.urls import reverse
from django.utils import translation

from subscribers import antispam
from surveys.models import Answer, Response
from surveys.tests.factories import SurveyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _human_speed(settings):
    settings.KANAL_SIGNUP_MIN_FILL_SECONDS = 0


def page_url(survey):
    return reverse("surveys:answer", kwargs={"slug": survey.survey.slug})


def post_data(survey, **extra):
    data = {
        "started": antispam.form_started_token(),
        "website": "",
        f"q{survey.nps.pk}": "8",
        f"q{survey.rating.pk}": "5",
        f"q{survey.single.pk}": str(survey.culture.pk),
        f"q{survey.multiple.pk}": [str(survey.news.pk)],
        f"q{survey.free.pk}": "Schön kurz.",
    }
    data.update(extra)
    return data


def test_public_page_shows_every_question_with_nps_buttons_and_stars(client, survey):
    html = client.get(page_url(survey), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for question in (survey.nps, survey.rating, survey.single, survey.multiple, survey.free):
        assert question.text in html
    assert html.count('class="btn-check"') == 11 + 5
    assert "5 ★" in html


def test_survey_without_public_link_is_not_found(client):
    survey = SurveyFactory(is_public=False)
    assert client.get(reverse("surveys:answer", kwargs={"slug": survey.slug})).status_code == 404


def test_link_with_preselected_answer_shows_it_selected_and_stores_nothing(client, survey):
    response = client.get(page_url(survey) + f"?q{survey.nps.pk}=9")
    assert response.status_code == 200
    assert response.context["form"][f"q{survey.nps.pk}"].value() == "9"
    (button,) = re.findall(rf'<input[^>]*id="id_q{survey.nps.pk}_9"[^>]*>', response.content.decode())
    assert "checked" in button
    assert Response.objects.count() == 0
    assert Answer.objects.count() == 0


def test_post_stores_the_answers_and_shows_the_thank_you_text(client, survey):
    response = client.post(page_url(survey), post_data(survey), follow=True)
    assert response.redirect_chain[-1][0].endswith("/thanks/")
    assert survey.survey.thank_you_text in response.content.decode()
    stored = Response.objects.get()
    assert stored.source == Response.Source.PUBLIC
    assert stored.subscriber is None and stored.respondent_key is not None
    assert Answer.objects.get(question=survey.nps).value == 8


def test_answering_the_public_survey_again_edits_the_earlier_response(client, survey):
    client.post(page_url(survey), post_data(survey))
    with translation.override("en"):
        page = client.get(page_url(survey), HTTP_ACCEPT_LANGUAGE="en")
    assert "replaces your earlier answers" in page.content.decode()
    assert page.context["form"][f"q{survey.nps.pk}"].value() == "8", "the form shows the earlier answer"
    client.post(page_url(survey), post_data(survey, **{f"q{survey.nps.pk}": "2"}))
    assert Response.objects.count() == 1
    assert Answer.objects.get(question=survey.nps).value == 2


def test_another_browser_gets_its_own_response(client, survey):
    from django.test import Client

    client.post(page_url(survey), post_data(survey))
    Client().post(page_url(survey), post_data(survey))
    assert Response.objects.count() == 2


def test_forged_respondent_cookie_is_ignored(client, survey):
    client.post(page_url(survey), post_data(survey))
    original = Response.objects.get()
    client.cookies["kanal_survey_respondent"] = str(original.respondent_key)  # unsigned: forged
    client.post(page_url(survey), post_data(survey, **{f"q{survey.nps.pk}": "0"}))
    assert Response.objects.count() == 2
    assert Answer.objects.get(response=original, question=survey.nps).value == 8


@pytest.mark.parametrize(
    "bad",
    [
        {"q_nps": "11"},
        {"q_rating": "0"},
        {"q_single": "999999"},
        {"q_free": "x" * 5_001},
        {"q_nps": ""},
    ],
)
def test_bad_input_on_the_public_page_shows_an_error_and_stores_nothing(client, survey, bad):
    ((name, value),) = bad.items()
    question = getattr(survey, name.removeprefix("q_"))
    response = client.post(page_url(survey), post_data(survey, **{f"q{question.pk}": value}))
    assert response.status_code == 400
    assert response.context["form"].errors[f"q{question.pk}"]
    assert Response.objects.count() == 0


def test_honeypot_gets_the_thank_you_page_and_stores_nothing(client, survey):
    response = client.post(page_url(survey), post_data(survey, website="https://spam.example"))
    assert response.status_code == 302
    assert Response.objects.count() == 0


def test_form_sent_faster_than_a_human_stores_nothing(client, survey, settings):
    settings.KANAL_SIGNUP_MIN_FILL_SECONDS = 5
    response = client.post(page_url(survey), post_data(survey))
    assert response.status_code == 302
    assert Response.objects.count() == 0


def test_too_many_answers_from_one_address_are_refused(client, survey, settings):
    settings.KANAL_SURVEY_RATE_PER_IP = "2/h"
    from django.test import Client

    for _ in range(2):
        assert Client().post(page_url(survey), post_data(survey)).status_code == 302
    response = Client().post(page_url(survey), post_data(survey), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 429
    assert "too many answers" in response.content.decode()
    assert Response.objects.count() == 2


def test_results_and_csv_need_staff(client, survey):
    for name in ("surveys:results", "surveys:results_csv"):
        response = client.get(reverse(name, kwargs={"pk": survey.survey.pk}))
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_csv_export_has_one_row_per_response(admin_client, survey):
    client_post = admin_client.post
    client_post(page_url(survey), post_data(survey, **{f"q{survey.free.pk}": "=HYPERLINK(1)"}))
    response = admin_client.get(reverse("surveys:results_csv", kwargs={"pk": survey.survey.pk}))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][5:] == [q.text for q in (survey.nps, survey.rating, survey.single, survey.multiple, survey.free)]
    assert rows[1][3:] == ["public", "", "8", "5", "Culture", "News", "'=HYPERLINK(1)"]
    assert len(rows) == 2


def test_csv_export_escapes_a_free_text_answer_and_keeps_scores_numbers(admin_client, survey):
    admin_client.post(page_url(survey), post_data(survey, **{f"q{survey.free.pk}": "-2+3"}))
    response = admin_client.get(reverse("surveys:results_csv", kwargs={"pk": survey.survey.pk}))
    assert response["Content-Disposition"] == f'attachment; filename="survey-{survey.survey.pk}-responses.csv"'
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode())
    header, row = csv.reader(io.StringIO(body.decode("utf-8-sig")))
    assert row[header.index(survey.free.text)] == "'-2+3"
    assert ',8,5,"Culture","News","\'-2+3"\r\n' in body.decode("utf-8-sig"), "scores unquoted, text quoted"
