"""The subscriber's journey in a real browser, on a phone-sized screen."""

import re

import pytest
from django.core import mail

from newsletter_site.testing import wait_until
from subscribers.models import ConsentRecord, Subscriber, Subscription

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_sign_up_confirm_change_preferences_and_unsubscribe_in_a_browser(
    page, live_server, settings, mailing_list, consent_text, celery_worker_thread
):
    settings.SITE_URL = live_server.url
    settings.KANAL_SIGNUP_MIN_FILL_SECONDS = 0  # a script fills the form faster than any person
    page.goto(f"{live_server.url}/subscribe/{mailing_list.slug}/")
    page.get_by_label("E-Mail-Adresse").fill("Browser@Example.org")
    page.get_by_label("Vorname").fill("Bea")
    page.get_by_label(consent_text.text).check()
    page.get_by_role("button", name="Abonnieren").click()
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert "Posteingang" in page.content()

    wait_until(lambda: mail.outbox, timeout=20, message="the confirmation mail")
    (link,) = re.findall(r"https?://\S+/confirm/\S+/", mail.outbox[0].body)
    page.goto(link)
    assert Subscription.objects.get().status == Subscription.Status.PENDING, "opening the link confirms nothing"
    page.get_by_role("button", name="Ja, anmelden").click()
    page.get_by_text("Danke").wait_for()

    subscriber = Subscriber.objects.get()
    assert subscriber.email == "browser@example.org"
    assert subscriber.status == Subscriber.Status.ACTIVE
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.CONFIRM, ip_address="127.0.0.1").exists()

    page.get_by_role("link", name="Einstellungen verwalten").click()
    page.get_by_label("Vorname").fill("Beatrice")
    page.get_by_label("Nachname").fill("Beispiel")
    page.get_by_label("Öffnungen und Klicks", exact=False).check()
    page.get_by_role("button", name="Einstellungen speichern").click()
    page.get_by_role("heading", name="Einstellungen gespeichert").wait_for()
    subscriber.refresh_from_db()
    assert (subscriber.first_name, subscriber.last_name, subscriber.tracking_consent) == ("Beatrice", "Beispiel", True)

    page.get_by_role("link", name="Abmelden").click()
    page.get_by_label("allen Newslettern").check()
    page.get_by_role("button", name="Abmelden").click()
    page.get_by_role("heading", name="Sie sind abgemeldet").wait_for()
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert Subscription.objects.get().status == Subscription.Status.UNSUBSCRIBED
    actions = list(ConsentRecord.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["signup", "confirm", "preferences", "unsubscribe"]
