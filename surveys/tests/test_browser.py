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


READER_BROWSER = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
)


def test_answer_clicked_in_a_sent_mail_is_confirmed_in_the_browser_and_shown_to_staff(
    browser, page, live_server, settings, survey, transactional_db, monkeypatch
):
    from datetime import timedelta
    from html import unescape
    from urllib.parse import urlsplit

    from django.core import mail
    from django.db.models import F

    from campaigns.models import Delivery
    from campaigns.services import sending
    from campaigns.tests.factories import ArticleFactory, CampaignFactory
    from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
    from surveys import tokens

    settings.KANAL_SIGNUP_MIN_FILL_SECONDS = 0
    s = survey
    news = MailingListFactory()
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    s.survey.is_public = False  # in-mail answers need no public link
    s.survey.campaign = campaign
    s.survey.save()
    reader = SubscriptionFactory(
        mailing_list=news, subscriber=SubscriberFactory(email="leserin@example.org")
    ).subscriber

    # The real sending code; the test sends the batches itself instead of Celery.
    monkeypatch.setattr(sending, "_queue_senders", lambda *, campaign_id: None)
    sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    (message,) = mail.outbox
    assert message.to == ["Erika Mustermann <leserin@example.org>"]
    html = message.alternatives[0][0]
    links = {}
    for href in re.findall(r'href="([^"]*/s/a/[^"]+)"', html):
        ids = tokens.verify_answer(unescape(href).rsplit("/", 1)[1])
        links[ids[2]] = urlsplit(unescape(href)).path
    assert sorted(links) == list(range(11)), "eleven NPS buttons in the mail"
    assert links[9] in message.body, "and the same links in the plain-text part"
    # The reader opens the mail a few minutes after it was sent (clicks within seconds are scanners').
    Delivery.objects.update(sent_at=F("sent_at") - timedelta(minutes=5))

    # A headless browser that says so is a machine: no automatic confirmation, and its POST is not counted.
    page.goto(live_server.url + links[9])
    assert page.locator("form[data-auto-confirm]").count() == 0
    page.locator("form[data-confirm-form] button[type=submit]").click()
    page.locator("[data-confirm-refused]").wait_for()
    assert Response.objects.count() == 0

    # The reader's phone: the page confirms the clicked answer by itself.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-DE", user_agent=READER_BROWSER)
    phone = context.new_page()
    phone.set_default_timeout(15_000)
    phone.goto(live_server.url + links[9])
    assert is_pressed(phone, s.nps, 9), "the clicked answer is selected"
    phone.locator("[data-confirm-saved]:not(.d-none)").wait_for()
    stored = Response.objects.get()
    assert (stored.subscriber_id, stored.source) == (reader.pk, Response.Source.MAIL)
    assert Answer.objects.get(question=s.nps).value == 9
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390, "fits a phone"

    # The rest of the survey, below the confirmed answer.
    press(phone, s.rating, 4)
    phone.get_by_label("Culture").check()
    phone.get_by_label("News").check()
    phone.get_by_label(s.free.text).fill("Mehr Reportagen")
    phone.get_by_role("button", name="Antworten senden").click()
    phone.wait_for_url(re.compile(r"\?done=1$"))
    assert s.survey.thank_you_text in phone.content()
    context.close()
    assert Response.objects.count() == 1, "one response per subscriber and survey"
    answers = {answer.question_id: answer for answer in Answer.objects.all()}
    assert answers[s.nps.pk].value == 9 and answers[s.rating.pk].value == 4

    get_user_model().objects.create_superuser("staff", "staff@example.org", "correct horse battery")
    page.goto(f"{live_server.url}/admin/login/?next=/staff/surveys/{s.survey.pk}/results/")
    page.locator("#id_username").fill("staff")
    page.locator("#id_password").fill("correct horse battery")
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(r"/results/$"))
    assert page.locator("#response-count").inner_text() == "1"
    assert page.locator("[data-nps-score]").inner_text() == "100"
    assert page.locator(".free-text-answers").inner_text().strip() == "Mehr Reportagen"
