"""The pages behind a mail's survey and feedback links speak the mail's language."""

from urllib.parse import urlsplit

import pytest
from django.test import Client

from surveys import tokens
from surveys.tests.conftest import BROWSER

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["de", "en"])
def test_answer_and_feedback_pages_speak_the_campaign_language_whatever_the_browser(mail, language):
    mail.campaign.language = language
    mail.campaign.save(update_fields=["language"])
    browser = Client(HTTP_ACCEPT_LANGUAGE="en" if language == "de" else "de", HTTP_USER_AGENT=BROWSER)
    links = [
        tokens.answer_url(delivery_id=mail.delivery.pk, question_id=mail.nps.pk, value=9),
        tokens.feedback_url(delivery_id=mail.delivery.pk, article_id=mail.articles[0].pk, useful=True),
    ]
    for link in links:
        page = browser.get(urlsplit(link).path)
        assert page.status_code == 200
        assert page["Content-Language"] == language
