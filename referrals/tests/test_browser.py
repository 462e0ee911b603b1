"""A reader refers a friend in a real browser; the friend signs up and confirms; the count rises,
and the milestone's reward mail with the reader's code arrives."""

import email
import re
from email import policy

import pytest
from django.core import mail

from automations import triggers
from automations.tests.factories import active_automation
from campaigns.models import Campaign
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.testing import wait_until
from offers.tests.factories import CouponFactory, OfferFactory
from referrals.models import Milestone, MilestoneReward, Referral, ReferralVisit
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


def _sink_mails(sink) -> list[tuple[list[str], email.message.EmailMessage]]:
    with sink.lock:
        messages = list(sink.messages)
    return [(recipients, email.message_from_bytes(content, policy=policy.default)) for recipients, content in messages]


def _text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_referrer_gets_the_reward_mail_with_their_code_when_the_friend_confirms(
    browser, page, live_server, settings, referrer, mailing_list, consent_text, smtp_sink, celery_worker_thread
):
    """The issue's end-to-end: a reader refers a friend, the friend confirms, the count goes up and
    the milestone's thank-you mail with the reader's own code arrives (real worker, real SMTP sink)."""
    settings.SITE_URL = live_server.url
    settings.KANAL_SIGNUP_MIN_FILL_SECONDS = 0
    offer = OfferFactory(name="Dankeschön-Rabatt")
    CouponFactory(offer=offer, code="DANKE-7K3M")
    CouponFactory(offer=offer, code="DANKE-8P4Q")
    milestone = Milestone.objects.create(referrals=1, reward="coupon", offer=offer)
    thanks = CampaignFactory(
        name="Danke",
        kind=Campaign.Kind.AUTOMATION,
        mailing_lists=[],
        subject="Danke! Dein Code: {{ subscriber.referral_reward_code }}",
    )
    ArticleFactory(campaign=thanks, headline="Dein Code: {{ subscriber.referral_reward_code }}")
    active_automation(
        trigger_kind=triggers.MILESTONE_REACHED,
        trigger_params={"milestone": milestone.pk},
        steps=[{"kind": "mail", "campaign": thanks.pk}],
    )

    preferences_url = live_server.url + links.preferences_url(referrer).removeprefix(settings.SITE_URL)
    page.goto(preferences_url)
    assert page.locator("[data-referral-count]").inner_text() == "0"
    assert page.locator("[data-referral-reward-code]").count() == 0
    referral_link = page.locator("[data-referral-link]").input_value()

    friend_context = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-DE")
    friend = friend_context.new_page()
    friend.set_default_timeout(15_000)
    try:
        friend.goto(referral_link)
        friend.wait_for_url(re.compile(rf"/subscribe/{mailing_list.slug}/\?ref="))
        friend.get_by_label("E-Mail-Adresse").fill("freundin@example.org")
        friend.get_by_label(consent_text.text).check()
        friend.get_by_role("button", name="Abonnieren").click()
        friend.wait_for_url(re.compile(r"/thanks/$"))

        confirmation = wait_until(
            lambda: [message for recipients, message in _sink_mails(smtp_sink) if "freundin@example.org" in recipients],
            timeout=30,
            message="the confirmation mail at the sink",
        )
        (confirm_link,) = re.findall(r"https?://\S+/confirm/\S+/", _text(confirmation[-1]))
        friend.goto(confirm_link)
        friend.get_by_role("button", name="Ja, anmelden").click()
        friend.get_by_text("Danke").wait_for()
    finally:
        friend_context.close()

    assert Referral.objects.get().status == Referral.Status.CREDITED
    rewards = wait_until(
        lambda: [message for recipients, message in _sink_mails(smtp_sink) if referrer.email in recipients],
        timeout=60,
        message="the reward mail at the sink",
    )
    (reward_mail,) = rewards
    assert reward_mail["Subject"] == "Danke! Dein Code: DANKE-7K3M"
    assert "Dein Code: DANKE-7K3M" in _text(reward_mail)
    assert MilestoneReward.objects.get().coupon_assignment.coupon.code == "DANKE-7K3M"

    page.reload()
    assert page.locator("[data-referral-count]").inner_text() == "1"
    assert page.locator("[data-referral-reward-code]").inner_text() == "DANKE-7K3M"
