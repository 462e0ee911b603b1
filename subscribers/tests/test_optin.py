import re
import time

import pytest
from django.core import mail, signing
from django.urls import reverse

from newsletter_site.testing import wait_until
from subscribers import antispam
from subscribers.models import ConfirmationMail, ConsentRecord, Subscriber, Subscription, SuppressedAddress, email_hash
from subscribers.services import optin
from subscribers.tests.conftest import links_in_last_mail
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def sign_up(client, mailing_list, *, email="Erika@Example.org", ip="203.0.113.7", **extra):
    # A form rendered ten seconds ago: faster submissions count as bots (see test_abuse.py).
    started = antispam.form_started_token(now=time.time() - 10)
    data = {"email": email, "first_name": "Erika", "consent": "on", "started": started, **extra}
    return client.post(
        reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug}),
        data,
        REMOTE_ADDR=ip,
        HTTP_USER_AGENT="Mozilla/5.0 (Test)",
        HTTP_REFERER="https://shop.example.com/newsletter",
    )


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def subscribe_and_send(mailing_list, consent_text, email="erika@example.org"):
    outcome = optin.subscriber_subscribe(email=email, mailing_list=mailing_list, consent_text=consent_text)
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)
    return outcome


def confirmation_token_from_last_mail() -> str:
    (link,) = links_in_last_mail("/confirm/")
    return link.rstrip("/").rsplit("/", 1)[-1]


def test_form_page_shows_list_and_current_consent_text(client, mailing_list, consent_text):
    response = client.get(reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug}))
    assert response.status_code == 200
    assert "Kanal News" in response.text
    assert consent_text.text in response.text
    assert 'name="viewport"' in response.text


def test_unknown_or_private_list_is_404(client, mailing_list):
    mailing_list.is_public = False
    mailing_list.save()
    assert client.get(reverse("subscribers:subscribe", kwargs={"slug": "news"})).status_code == 404
    assert client.get(reverse("subscribers:subscribe", kwargs={"slug": "nope"})).status_code == 404


def test_sign_up_stores_pending_subscriber_with_consent_proof(
    client, mailing_list, consent_text, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = sign_up(client, mailing_list)
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "erika@example.org"
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.subscriptions.get().status == Subscription.Status.PENDING
    record = ConsentRecord.objects.get()
    assert record.action == ConsentRecord.Action.SIGNUP
    assert record.ip_address == "203.0.113.7"
    assert record.user_agent == "Mozilla/5.0 (Test)"
    assert record.source_url == "https://shop.example.com/newsletter"
    assert record.consent_text == consent_text
    assert record.consent_text_shown == "Ja, ich will den Newsletter."
    assert ConfirmationMail.objects.count() == 1
    assert len(callbacks) == 1, "the confirmation mail task is queued once, after commit"


def test_confirmation_mail_is_sent_once_even_if_the_task_runs_twice(mailing_list, consent_text):
    outcome = optin.subscriber_subscribe(
        email="erika@example.org", mailing_list=mailing_list, consent_text=consent_text
    )
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["erika@example.org"]
    assert "Kanal News" in message.subject
    assert message.alternatives[0][1] == "text/html"
    assert message.metadata == {"kind": "confirmation", "subscription_id": str(outcome.subscription.pk)}
    assert ConfirmationMail.objects.get().sent_at is not None


def test_get_on_confirmation_link_confirms_nothing(client, mailing_list, consent_text):
    subscribe_and_send(mailing_list, consent_text)
    token = confirmation_token_from_last_mail()
    response = client.get(reverse("subscribers:confirm", kwargs={"token": token}))
    assert response.status_code == 200
    assert '<form method="post">' in response.text
    assert Subscription.objects.get().status == Subscription.Status.PENDING
    assert not ConsentRecord.objects.filter(action=ConsentRecord.Action.CONFIRM).exists()


def test_post_confirms_and_records_time_and_ip(client, mailing_list, consent_text):
    subscribe_and_send(mailing_list, consent_text)
    token = confirmation_token_from_last_mail()
    response = client.post(reverse("subscribers:confirm", kwargs={"token": token}), REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 200
    subscription = Subscription.objects.select_related("subscriber").get()
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.confirmed_at is not None
    assert subscription.subscriber.status == Subscriber.Status.ACTIVE
    confirm = ConsentRecord.objects.get(action=ConsentRecord.Action.CONFIRM)
    assert confirm.ip_address == "198.51.100.4"


def test_second_click_on_confirm_link_is_harmless(client, mailing_list, consent_text):
    subscribe_and_send(mailing_list, consent_text)
    url = reverse("subscribers:confirm", kwargs={"token": confirmation_token_from_last_mail()})
    client.post(url)
    second = client.post(url)
    assert second.status_code == 400
    assert "Already confirmed" in second.text or "Bereits bestätigt" in second.text
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.CONFIRM).count() == 1
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE


def test_expired_confirmation_link_is_refused(client, mailing_list, consent_text, settings, monkeypatch):
    subscribe_and_send(mailing_list, consent_text)
    url = reverse("subscribers:confirm", kwargs={"token": confirmation_token_from_last_mail()})
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now + 8 * 86400)
    response = client.post(url)
    assert response.status_code == 400
    assert Subscription.objects.get().status == Subscription.Status.PENDING


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "eyJzIjoxLCJuIjoiYWJjIn0:1vabc:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        signing.dumps({"s": 1, "n": "x"}, salt="kanal.subscribers.preferences"),
        signing.dumps({"s": "1", "n": 5}, salt="kanal.subscribers.confirm"),
    ],
)
def test_forged_or_foreign_tokens_confirm_nothing(client, mailing_list, consent_text, token):
    subscribe_and_send(mailing_list, consent_text)
    response = client.post(reverse("subscribers:confirm", kwargs={"token": token}))
    assert response.status_code == 400
    assert Subscription.objects.get().status == Subscription.Status.PENDING


def test_bit_flipped_token_confirms_nothing(client, mailing_list, consent_text):
    subscribe_and_send(mailing_list, consent_text)
    token = confirmation_token_from_last_mail()
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.post(reverse("subscribers:confirm", kwargs={"token": flipped})).status_code == 400
    assert Subscription.objects.get().status == Subscription.Status.PENDING


def test_resubscribing_an_active_address_changes_nothing_and_reveals_nothing(client, mailing_list, consent_text):
    SubscriptionFactory(subscriber=SubscriberFactory(email="known@example.org"), mailing_list=mailing_list)
    records_before = ConsentRecord.objects.count()

    known = sign_up(client, mailing_list, email="known@example.org")
    unknown = sign_up(client, mailing_list, email="stranger@example.org", ip="203.0.113.8")

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert without_csrf(client.get(known["Location"]).text) == without_csrf(client.get(unknown["Location"]).text)
    assert Subscription.objects.get(subscriber__email="known@example.org").status == Subscription.Status.ACTIVE
    assert not ConfirmationMail.objects.filter(subscription__subscriber__email="known@example.org").exists()
    assert ConsentRecord.objects.count() == records_before + 1  # only the stranger's sign-up


def test_confirmation_mails_are_capped_per_address_whatever_hits_the_form(mailing_list, consent_text, settings):
    settings.KANAL_CONFIRMATION_MAILS_PER_ADDRESS_PER_DAY = 3
    outcomes = [
        optin.subscriber_subscribe(email="victim@example.org", mailing_list=mailing_list, consent_text=consent_text)
        for _ in range(6)
    ]
    assert sum(1 for outcome in outcomes if outcome.confirmation_mail) == 3
    assert ConfirmationMail.objects.count() == 3


def test_repeated_sign_up_keeps_the_first_link_working(client, mailing_list, consent_text):
    subscribe_and_send(mailing_list, consent_text)
    first_token = confirmation_token_from_last_mail()
    subscribe_and_send(mailing_list, consent_text)
    assert client.post(reverse("subscribers:confirm", kwargs={"token": first_token})).status_code == 200


def test_honeypot_stores_nothing_but_answers_like_success(client, mailing_list, consent_text):
    response = sign_up(client, mailing_list, website="http://spam.example")
    assert response.status_code == 302
    assert not Subscriber.objects.exists()


def test_sign_ups_per_ip_are_rate_limited(client, mailing_list, consent_text, settings):
    settings.KANAL_SIGNUP_RATE_PER_IP = "3/h"
    statuses = [sign_up(client, mailing_list, email=f"a{i}@example.org", ip="192.0.2.1").status_code for i in range(5)]
    assert statuses == [302, 302, 302, 429, 429]
    assert Subscriber.objects.count() == 3
    assert sign_up(client, mailing_list, email="other@example.org", ip="192.0.2.2").status_code == 302


@pytest.mark.parametrize(
    "data",
    [
        {"email": "not-an-address", "first_name": "Erika", "consent": "on"},
        {"email": "a@example.org", "first_name": "E" * 101, "consent": "on"},
        {"email": ("a" * 250) + "@example.org", "first_name": "", "consent": "on"},
        {"email": "a@example.org", "first_name": "Erika"},
    ],
)
def test_bad_input_gets_a_clear_error_and_stores_nothing(client, mailing_list, consent_text, data):
    response = client.post(reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug}), data)
    assert response.status_code == 400
    assert "invalid-feedback" in response.text
    assert not Subscriber.objects.exists()
    assert not ConsentRecord.objects.exists()


def test_confirming_lifts_an_earlier_suppression(client, mailing_list, consent_text):
    SuppressedAddress.objects.create(email_hash=email_hash("erika@example.org"), reason="erased")
    subscribe_and_send(mailing_list, consent_text)
    client.post(reverse("subscribers:confirm", kwargs={"token": confirmation_token_from_last_mail()}))
    assert not SuppressedAddress.objects.exists()


@pytest.mark.worker
def test_real_worker_sends_the_confirmation_mail(client, mailing_list, consent_text, celery_worker_thread):
    sign_up(client, mailing_list, email="worker@example.org")
    # The worker hands the mail over first and marks it sent just after.
    wait_until(
        lambda: ConfirmationMail.objects.filter(sent_at__isnull=False).exists(),
        timeout=20,
        message="the confirmation mail marked sent",
    )
    assert [message.to for message in mail.outbox] == [["worker@example.org"]]


def test_a_list_name_with_an_ampersand_reads_as_written_in_the_subject(consent_text):
    mailing_list = MailingListFactory(name="Kunst & Kultur")
    outcome = optin.subscriber_subscribe(
        email="erika@example.org", mailing_list=mailing_list, consent_text=consent_text
    )
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)
    (message,) = mail.outbox
    assert "Kunst & Kultur" in message.subject and "&amp;" not in message.subject
    assert "Kunst & Kultur" in message.body
    assert "Kunst &amp; Kultur" in message.alternatives[0][0], "the HTML part stays escaped"
