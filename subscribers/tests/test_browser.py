"""The subscriber's journey in a real browser, on a phone-sized screen."""

import re
import time

import pytest
from django.core import mail

from subscribers.models import ConsentRecord, Subscriber, Subscription

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def wait_for_mail(count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(mail.outbox) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(mail.outbox) >= count, f"expected {count} mails, got {len(mail.outbox)}"


def test_sign_up_and_confirm_in_a_browser(
    page, live_server, settings, mailing_list, consent_text, celery_worker_thread
):
    settings.SITE_URL = live_server.url
    page.goto(f"{live_server.url}/subscribe/{mailing_list.slug}/")
    page.get_by_label("E-Mail-Adresse").fill("Browser@Example.org")
    page.get_by_label("Vorname").fill("Bea")
    page.get_by_label(consent_text.text).check()
    page.get_by_role("button", name="Abonnieren").click()
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert "Posteingang" in page.content()

    wait_for_mail(1)
    (link,) = re.findall(r"https?://\S+/confirm/\S+/", mail.outbox[0].body)
    page.goto(link)
    assert Subscription.objects.get().status == Subscription.Status.PENDING, "opening the link confirms nothing"
    page.get_by_role("button", name="Ja, anmelden").click()
    page.get_by_text("Danke").wait_for()

    subscriber = Subscriber.objects.get()
    assert subscriber.email == "browser@example.org"
    assert subscriber.status == Subscriber.Status.ACTIVE
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.CONFIRM, ip_address="127.0.0.1").exists()
