"""A reader refers a friend in a real browser; the friend signs up and confirms; the count rises."""

import re

import pytest
from django.core import mail

from newsletter_site.testing import wait_until
from referrals.models import Referral, ReferralVisit
from subscribers import links

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_reader_refers_a_friend_who_confirms_and_the_count_goes_up(
    browser, page, live_server, settings, referrer, mailing_list, consent_text, celery_worker_thread
):
    settings.SITE_URL = live_server.url
    settings.KANAL_SIGNUP_MIN_FILL_SECONDS = 0  # a script fills the form faster than any person
    preferences_url = live_server.url + links.preferences_url(referrer).removeprefix(settings.SITE_URL)
    page.goto(preferences_url)
    assert page.locator("[data-referral-count]").inner_text() == "0"
    referral_link = page.locator("[data-referral-link]").input_value()
    assert referral_link.startswith(f"{live_server.url}/r/")

    # The friend, in a browser of their own.
    friend_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-DE")
    friend = friend_context.new_page()
    friend.set_default_timeout(15_000)
    try:
        friend.goto(referral_link)
        friend.wait_for_url(re.compile(rf"/subscribe/{mailing_list.slug}/\?ref="))
        wait_until(lambda: ReferralVisit.objects.filter(visits=1).exists(), timeout=10, message="the visit count")
        friend.get_by_label("E-Mail-Adresse").fill("freundin@example.org")
        friend.get_by_label(consent_text.text).check()
        friend.get_by_role("button", name="Abonnieren").click()
        friend.wait_for_url(re.compile(r"/thanks/$"))
        assert Referral.objects.get().status == Referral.Status.PENDING

        wait_until(lambda: mail.outbox, timeout=20, message="the confirmation mail")
        (confirm_link,) = re.findall(r"https?://\S+/confirm/\S+/", mail.outbox[-1].body)
        friend.goto(confirm_link)
        friend.get_by_role("button", name="Ja, anmelden").click()
        friend.get_by_text("Danke").wait_for()
    finally:
        friend_context.close()

    assert Referral.objects.get().status == Referral.Status.CREDITED
    page.reload()
    assert page.locator("[data-referral-count]").inner_text() == "1"
