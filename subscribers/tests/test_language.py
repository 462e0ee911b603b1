"""Mails and the pages their links open speak the subscriber's language, whatever the browser says."""

from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from subscribers import links
from subscribers.services import optin
from subscribers.tests.factories import ConsentTextFactory, MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "wanted", "unwanted"),
    [
        ("de", ["Bitte bestätigen Sie", "Abonnement bestätigen", "Hallo Erika"], ["Please confirm", "Hello"]),
        ("en", ["Please confirm", "Confirm subscription", "Hello Erika"], ["bestätigen", "Hallo"]),
    ],
)
def test_confirmation_mail_speaks_the_subscribers_language(language, wanted, unwanted):
    mailing_list = MailingListFactory(language=language)
    outcome = optin.subscriber_subscribe(
        email="erika@example.org",
        first_name="Erika",
        mailing_list=mailing_list,
        consent_text=ConsentTextFactory(language=language),
        language=language,
    )
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)

    (message,) = mail.outbox
    (html, _mimetype) = message.alternatives[0]
    everything = "\n".join([message.subject, message.body, html])
    assert [word for word in wanted if word not in everything] == []
    assert [word for word in unwanted if word in everything] == []


@pytest.fixture
def german_reader():
    return SubscriptionFactory(subscriber=SubscriberFactory(language="de")).subscriber


def test_pages_a_german_mail_links_to_are_german_in_an_english_browser(german_reader):
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    unsubscribe = browser.get(urlsplit(links.unsubscribe_url(german_reader)).path)
    preferences = browser.get(urlsplit(links.preferences_url(german_reader)).path)

    for page in (unsubscribe, preferences):
        assert page.status_code == 200
        assert page["Content-Language"] == "de"
        assert '<html lang="de"' in page.content.decode()
    assert "Abmelden" in unsubscribe.content.decode()
    assert "Ihre Newsletter-Einstellungen" in preferences.content.decode()


def test_one_click_unsubscribe_answers_in_the_subscribers_language(german_reader):
    answer = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        urlsplit(links.one_click_unsubscribe_url(german_reader)).path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.content.decode() == "Sie sind abgemeldet."


def test_a_language_chosen_on_the_page_wins_over_the_subscribers(german_reader):
    browser = Client()
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = browser.get(urlsplit(links.unsubscribe_url(german_reader)).path)
    assert page["Content-Language"] == "en"
    assert "Unsubscribe" in page.content.decode()


def test_confirmation_page_is_in_the_subscribers_language_in_an_english_browser():
    outcome = optin.subscriber_subscribe(
        email="erika@example.org", mailing_list=MailingListFactory(language="de"), consent_text=None, language="de"
    )
    subscription = outcome.confirmation_mail.subscription
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = browser.get(urlsplit(optin.confirmation_url(subscription=subscription)).path)
    assert page.status_code == 200
    assert page["Content-Language"] == "de"
    assert "Bestätigen Sie Ihr Abonnement" in page.content.decode()


def test_choosing_english_in_the_preferences_answers_in_english(german_reader):
    mailing_list = german_reader.subscriptions.get().mailing_list
    saved = Client(HTTP_ACCEPT_LANGUAGE="de").post(
        urlsplit(links.preferences_url(german_reader)).path,
        {"language": "en", "mailing_lists": [str(mailing_list.pk)]},
    )
    assert saved.status_code == 200
    assert saved["Content-Language"] == "en"
