"""A reader answers the public survey on a phone, and staff find the answer on the results page."""

import re

import pytest
from django.contrib.auth import get_user_model

from surveys.models import Answer, Response

pytestmark = [pytest.mark.browser]


def press(page, question, value):
    """Click the button-styled label of a score radio (the radio itself is visually hidden)."""
    radio_id = page.locator(f'input[name="q{question.pk}"][value="{value}"]').get_attribute("id")
    page.locator(f'label[for="{radio_id}"]').click()


def is_pressed(page, question, value) -> bool:
    return page.locator(f'input[name="q{question.pk}"][value="{value}"]').is_checked()


def test_answer_on_a_phone_then_find_it_on_the_results_page(page, live_server, settings, survey, transactional_db):
    settings.KANAL_SIGNUP_MIN_FILL_SECONDS = 0  # a script fills the form faster than any person
    s = survey
    # The link an in-mail button will use: the first answer preselected, nothing stored yet.
    page.goto(f"{live_server.url}/survey/{s.survey.slug}/?q{s.nps.pk}=9")
    assert is_pressed(page, s.nps, 9)
    assert Response.objects.count() == 0, "opening the link stores nothing"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page fits a phone without sideways scrolling"

    press(page, s.rating, 4)
    page.get_by_label("Culture").check()
    page.get_by_label("News").check()
    page.get_by_label(s.free.text).fill("Mehr Rezepte <b>bitte</b>")
    page.get_by_role("button", name="Antworten senden").click()
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert s.survey.thank_you_text in page.content()

    answers = {answer.question_id: answer for answer in Answer.objects.all()}
    assert answers[s.nps.pk].value == 9
    assert answers[s.rating.pk].value == 4

    # Answering again edits the same response.
    page.goto(f"{live_server.url}/survey/{s.survey.slug}/")
    assert is_pressed(page, s.nps, 9)
    press(page, s.nps, 10)
    page.get_by_role("button", name="Antworten senden").click()
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert Response.objects.count() == 1
    assert Answer.objects.get(question=s.nps).value == 10

    get_user_model().objects.create_superuser("staff", "staff@example.org", "correct horse battery")
    page.goto(f"{live_server.url}/admin/login/?next=/staff/surveys/{s.survey.pk}/results/")
    page.locator("#id_username").fill("staff")
    page.locator("#id_password").fill("correct horse battery")
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(r"/results/$"))
    assert page.locator("#response-count").inner_text() == "1"
    assert page.locator(".free-text-answers").inner_text().strip() == "Mehr Rezepte <b>bitte</b>"
    assert page.locator("[data-nps-score]").inner_text() == "100"
    page.locator("canvas.survey-chart").first.wait_for()
    assert page.evaluate("typeof Chart") == "function", "the vendored Chart.js is served"
