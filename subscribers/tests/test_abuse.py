"""The public sign-up against bots and floods: honeypot, fill time, ALTCHA, rate limits, the embedded form."""

import html
import re
import time

import altcha
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client
from django.urls import reverse

from subscribers import antispam
from subscribers.models import ConfirmationMail, ConsentRecord, Subscriber, Subscription
from subscribers.services import optin
from subscribers.tests.conftest import links_in_last_mail
from subscribers.tests.factories import ConsentTextFactory

pytestmark = pytest.mark.django_db

ALTCHA_KEY = "altcha-test-hmac-key"


@pytest.fixture
def altcha_on(settings, monkeypatch):
    settings.KANAL_ALTCHA_HMAC_KEY = ALTCHA_KEY
    # Real PBKDF2 challenges, but cheap enough to solve in a test.
    monkeypatch.setattr(antispam, "ALTCHA_COST", 10)


def form_data(*, email="erika@example.org", seconds_ago=10.0, **extra) -> dict:
    return {
        "email": email,
        "first_name": "Erika",
        "consent": "on",
        "started": antispam.form_started_token(now=time.time() - seconds_ago),
        **extra,
    }


def post_form(client, mailing_list, data, ip="203.0.113.7"):
    return client.post(reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug}), data, REMOTE_ADDR=ip)


SHOP = "https://shop.example.com"


@pytest.fixture(autouse=True)
def _shop_may_embed(settings):
    settings.KANAL_EMBED_ORIGINS = [SHOP]


def post_embedded(client, mailing_list, data, ip="203.0.113.7", **headers):
    """What a browser on the shop's page sends; a browser always names the page's origin on a POST."""
    headers = {"HTTP_ORIGIN": SHOP, **headers}
    return client.post(
        reverse("subscribers:subscribe_embedded", kwargs={"slug": mailing_list.slug}), data, REMOTE_ADDR=ip, **headers
    )


def solved_altcha_payload(client) -> str:
    """What the widget sends: the challenge from Kanal's endpoint, solved by brute force."""
    response = client.get(reverse("subscribers:altcha_challenge"))
    assert response.status_code == 200
    challenge = altcha.Challenge.from_dict(response.json())
    solution = altcha.solve_challenge(challenge, timeout=30)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


def list_editor():
    """A staff user who may view mailing lists, as the embed code page needs."""
    user = get_user_model().objects.create_user("editor", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_mailinglist"))
    return user


def nothing_stored():
    return not Subscriber.objects.exists() and not ConsentRecord.objects.exists() and not mail.outbox


# --- honeypot and fill time ---------------------------------------------------------------------------


def test_honeypot_is_off_screen_hidden_from_screen_readers_and_skipped_by_tab(client, mailing_list, consent_text):
    page = client.get(reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug})).text
    wrapper = re.search(r'<div\s+aria-hidden="true" style="([^"]+)">\s*<div id="div_id_website"', page)
    assert wrapper, "the honeypot sits inside an aria-hidden wrapper"
    assert "position:absolute;left:-10000px" in wrapper.group(1)
    (honeypot,) = re.findall(r'<input[^>]*name="website"[^>]*>', page)
    assert 'tabindex="-1"' in honeypot
    assert 'autocomplete="off"' in honeypot


def test_filled_honeypot_answers_like_success_and_stores_nothing(client, mailing_list, consent_text):
    response = post_form(client, mailing_list, form_data(website="https://spam.example"))
    assert response.status_code == 302
    assert response["Location"].endswith("/thanks/")
    assert nothing_stored()


@pytest.mark.parametrize(
    "started",
    [
        pytest.param(lambda: antispam.form_started_token(), id="sent-at-once"),
        pytest.param(lambda: antispam.form_started_token(now=time.time() - 1), id="after-one-second"),
        pytest.param(lambda: "", id="missing"),
        pytest.param(lambda: antispam.form_started_token(now=time.time() - 60)[:-2] + "xx", id="forged"),
    ],
)
def test_fast_or_unsigned_submission_is_treated_like_the_honeypot(client, mailing_list, consent_text, started):
    response = post_form(client, mailing_list, form_data(started=started()))
    assert response.status_code == 302
    assert nothing_stored()


def test_a_human_pace_submission_is_accepted(client, mailing_list, consent_text):
    response = post_form(client, mailing_list, form_data(seconds_ago=3))
    assert response.status_code == 302
    assert Subscriber.objects.get().status == Subscriber.Status.PENDING
    assert ConfirmationMail.objects.count() == 1


def test_form_left_open_for_days_asks_to_send_again(client, mailing_list, consent_text):
    response = post_form(client, mailing_list, form_data(seconds_ago=3 * 86400))
    assert response.status_code == 400
    assert "erneut" in response.text or "again" in response.text
    assert nothing_stored()


# --- ALTCHA -------------------------------------------------------------------------------------------


def test_without_altcha_key_no_widget_and_no_challenge_endpoint(client, mailing_list, consent_text, settings):
    settings.KANAL_ALTCHA_HMAC_KEY = ""
    page = client.get(reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug})).text
    assert "altcha-widget" not in page
    assert "altcha.i18n.min.js" not in page
    assert client.get(reverse("subscribers:altcha_challenge")).status_code == 404
    assert post_form(client, mailing_list, form_data()).status_code == 302
    assert Subscriber.objects.count() == 1


def test_with_altcha_key_the_page_loads_the_vendored_widget(client, mailing_list, consent_text, altcha_on):
    page = client.get(reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug})).text
    assert '<altcha-widget name="altcha" challenge="/altcha/challenge/">' in page
    assert 'src="/static/subscribers/vendor/altcha/altcha.i18n.min.js"' in page


def test_challenge_endpoint_is_fresh_signed_expiring_and_open_to_other_sites(client, altcha_on):
    first = client.get(reverse("subscribers:altcha_challenge"))
    second = client.get(reverse("subscribers:altcha_challenge"))
    assert first["Access-Control-Allow-Origin"] == "*"
    assert "no-store" in first["Cache-Control"]
    assert first.json()["signature"] != second.json()["signature"]
    parameters = first.json()["parameters"]
    assert parameters["algorithm"] == "PBKDF2/SHA-256"
    assert 0 < parameters["expiresAt"] - time.time() <= antispam.ALTCHA_TTL_SECONDS


@pytest.mark.parametrize(
    "payload", ["", "bm90IGpzb24=", "%%%", "A" * 10_000], ids=["missing", "not-json", "garbage", "huge"]
)
def test_missing_or_broken_altcha_payload_is_refused_with_a_clear_error(
    client, mailing_list, consent_text, altcha_on, payload
):
    response = post_form(client, mailing_list, form_data(altcha=payload))
    assert response.status_code == 400
    assert "Roboter" in response.text or "robot" in response.text
    assert nothing_stored()


def test_solved_altcha_lets_the_sign_up_through_once(client, mailing_list, consent_text, altcha_on):
    payload = solved_altcha_payload(client)
    assert post_form(client, mailing_list, form_data(altcha=payload)).status_code == 302
    assert Subscriber.objects.get().email == "erika@example.org"

    replay = post_form(client, mailing_list, form_data(email="second@example.org", altcha=payload), ip="203.0.113.9")
    assert replay.status_code == 400
    assert "Roboter" in replay.text or "robot" in replay.text
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["erika@example.org"]


def test_altcha_signed_with_another_key_is_refused(client, mailing_list, consent_text, altcha_on, settings):
    payload = solved_altcha_payload(client)
    settings.KANAL_ALTCHA_HMAC_KEY = "rotated-key"
    assert post_form(client, mailing_list, form_data(altcha=payload)).status_code == 400
    assert nothing_stored()


def test_expired_altcha_is_refused(client, mailing_list, consent_text, altcha_on, monkeypatch):
    payload = solved_altcha_payload(client)
    later = time.time() + antispam.ALTCHA_TTL_SECONDS + 1
    monkeypatch.setattr(antispam.time, "time", lambda: later)
    assert post_form(client, mailing_list, form_data(altcha=payload)).status_code == 400
    assert not Subscriber.objects.exists()


def test_failed_form_does_not_use_up_the_altcha_solution(client, mailing_list, consent_text, altcha_on):
    payload = solved_altcha_payload(client)
    assert post_form(client, mailing_list, form_data(email="not-an-address", altcha=payload)).status_code == 400
    assert post_form(client, mailing_list, form_data(altcha=payload)).status_code == 302
    assert Subscriber.objects.count() == 1


# --- rate limits ----------------------------------------------------------------------------------------


def test_confirmation_posts_per_ip_are_rate_limited(client, mailing_list, consent_text, settings):
    settings.KANAL_CONFIRM_RATE_PER_IP = "3/h"
    outcome = optin.subscriber_subscribe(
        email="erika@example.org", mailing_list=mailing_list, consent_text=consent_text
    )
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)
    (link,) = links_in_last_mail("/confirm/")
    path = link[link.index("/confirm/") :]

    guesses = [client.post(f"/confirm/guess{i}/", REMOTE_ADDR="192.0.2.1").status_code for i in range(3)]
    limited = client.post(path, REMOTE_ADDR="192.0.2.1")
    assert guesses == [400, 400, 400]
    assert limited.status_code == 429
    assert "zu viele" in limited.text.lower() or "too many" in limited.text.lower()
    assert Subscription.objects.get().status == Subscription.Status.PENDING
    assert client.get(path, REMOTE_ADDR="192.0.2.1").status_code == 200, "showing the button is not limited"

    assert client.post(path, REMOTE_ADDR="192.0.2.2").status_code == 200
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE


# --- embedded form ------------------------------------------------------------------------------------


def test_embedded_endpoint_needs_no_csrf_cookie_and_still_does_double_opt_in(
    mailing_list, consent_text, django_capture_on_commit_callbacks
):
    foreign_site = Client(enforce_csrf_checks=True)
    data = {
        "email": "Reader@Example.org",
        "first_name": "Rita",
        "consent": "on",
        "website": "",
        "language": "de",
        "consent_version": str(consent_text.version),
    }
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_embedded(foreign_site, mailing_list, data, HTTP_REFERER="https://shop.example.com/blog")
    assert response.status_code == 302
    assert response["Location"] == reverse("subscribers:subscribe_thanks", kwargs={"slug": mailing_list.slug})
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "reader@example.org"
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.subscriptions.get().status == Subscription.Status.PENDING
    record = ConsentRecord.objects.get()
    assert record.source_url == "https://shop.example.com/blog"
    assert record.consent_text == consent_text
    assert len(callbacks) == 1, "the confirmation mail is queued"
    optin.confirmation_mail_send(confirmation_mail_id=ConfirmationMail.objects.get().pk)
    assert [message.to for message in mail.outbox] == [["reader@example.org"]]
    assert "/confirm/" in mail.outbox[0].body

    # The Kanal page itself keeps its CSRF protection.
    assert post_form(foreign_site, mailing_list, form_data(email="other@example.org")).status_code == 403


def test_embedded_form_records_the_consent_text_the_snippet_showed(mailing_list, consent_text):
    newer = ConsentTextFactory(language="de", version=consent_text.version + 1, text="Neue Fassung.")
    data = {"email": "a@example.org", "consent": "on", "language": "de", "consent_version": consent_text.version}
    post_embedded(Client(enforce_csrf_checks=True), mailing_list, data)
    assert ConsentRecord.objects.get().consent_text == consent_text
    data = {"email": "b@example.org", "consent": "on", "language": "de", "consent_version": "garbage"}
    post_embedded(Client(enforce_csrf_checks=True), mailing_list, data, ip="203.0.113.8")
    assert ConsentRecord.objects.get(subscriber__email="b@example.org").consent_text == newer


def test_embedded_sign_up_without_referer_records_the_origin(mailing_list, consent_text):
    data = {"email": "a@example.org", "consent": "on"}
    post_embedded(Client(enforce_csrf_checks=True), mailing_list, data, HTTP_ORIGIN="https://shop.example.com")
    assert ConsentRecord.objects.get().source_url == "https://shop.example.com"


def test_embedded_endpoint_honeypot_and_limits_still_apply(client, mailing_list, consent_text, settings):
    settings.KANAL_SIGNUP_RATE_PER_IP = "2/h"
    data = {"email": "a@example.org", "consent": "on"}
    assert post_embedded(client, mailing_list, {**data, "website": "spam"}).status_code == 302
    assert nothing_stored()
    assert post_embedded(client, mailing_list, data).status_code == 302
    limited = post_embedded(client, mailing_list, {**data, "email": "b@example.org"})
    assert limited.status_code == 429
    assert Subscriber.objects.count() == 1
    assert client.get(reverse("subscribers:subscribe_embedded", kwargs={"slug": mailing_list.slug})).status_code == 405


def test_embedded_endpoint_requires_altcha_when_switched_on(client, mailing_list, consent_text, altcha_on):
    data = {"email": "a@example.org", "consent": "on"}
    refused = post_embedded(client, mailing_list, data)
    assert refused.status_code == 400
    assert nothing_stored()
    # The error page's form posts to Kanal's own, CSRF-protected form.
    assert f'action="/subscribe/{mailing_list.slug}/"' in refused.text
    assert post_embedded(client, mailing_list, {**data, "altcha": solved_altcha_payload(client)}).status_code == 302
    assert Subscriber.objects.count() == 1


def test_embed_code_page_is_for_staff_and_shows_a_working_snippet(client, mailing_list, consent_text, settings):
    settings.SITE_URL = "https://news.example.com"
    url = reverse("subscribers:subscribe_embed_code", kwargs={"slug": mailing_list.slug})
    assert client.get(url).status_code == 302, "anonymous visitors are sent to the admin login"

    client.force_login(get_user_model().objects.create_user("helper", password="pw", is_staff=True))
    assert client.get(url).status_code == 403, "staff who may not view lists are refused"
    client.force_login(list_editor())
    page = client.get(url)
    assert page.status_code == 200
    snippet = html.unescape(re.search(r'<code id="kanal-snippet">(.*?)</code>', page.text, re.S).group(1))
    assert '<form action="https://news.example.com/subscribe/news/embedded/" method="post"' in snippet
    assert consent_text.text in snippet
    assert f'name="consent_version" value="{consent_text.version}"' in snippet
    assert re.search(r'<div aria-hidden="true" style="position:absolute;left:-10000px', snippet)
    assert 'name="website" tabindex="-1" autocomplete="off"' in snippet
    assert "altcha" not in snippet
    assert "csrfmiddlewaretoken" not in snippet

    # Post exactly the fields the snippet has, as a browser on another site would.
    names = set(re.findall(r'name="([a-z_]+)"', snippet))
    assert names == {"language", "consent_version", "email", "first_name", "website", "consent"}
    data = {"language": "de", "consent_version": consent_text.version, "email": "x@example.org", "consent": "on"}
    assert post_embedded(Client(enforce_csrf_checks=True), mailing_list, data).status_code == 302
    assert Subscriber.objects.get().email == "x@example.org"


def test_embed_snippet_includes_the_widget_when_altcha_is_on(client, mailing_list, consent_text, settings, altcha_on):
    settings.SITE_URL = "https://news.example.com"
    client.force_login(list_editor())
    page = client.get(reverse("subscribers:subscribe_embed_code", kwargs={"slug": mailing_list.slug})).text
    snippet = html.unescape(page)
    assert '<altcha-widget name="altcha" challenge="https://news.example.com/altcha/challenge/">' in snippet
    assert 'src="https://news.example.com/static/subscribers/vendor/altcha/altcha.i18n.min.js"' in snippet


# --- oversized and garbage input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "override",
    [
        {"email": "a" * 5_000 + "@example.org"},
        {"email": "erika@example.org\x00"},
        {"first_name": "Erika\x00"},
        {"first_name": "E" * 100_000},
        {"email": ["a@example.org", "b@example.org"], "first_name": "<script>alert(1)</script>" * 10},
        {"website": "x" * 1_000, "email": "@@@"},
    ],
    ids=["huge-email", "null-in-email", "null-in-name", "huge-name", "garbage-mix", "garbage-email"],
)
@pytest.mark.parametrize("endpoint", ["form", "embedded"])
def test_oversized_or_garbage_input_gets_400_with_a_clear_message(
    client, mailing_list, consent_text, override, endpoint
):
    data = form_data(**override)
    response = (post_form if endpoint == "form" else post_embedded)(client, mailing_list, data)
    assert response.status_code == 400
    assert "invalid-feedback" in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert nothing_stored()


def test_too_many_fields_are_refused(client, mailing_list, consent_text):
    data = form_data(**{f"f{i}": "x" for i in range(1_500)})
    response = post_embedded(client, mailing_list, data)
    assert response.status_code == 400
    assert nothing_stored()


# --- the vendored widget in a real browser ------------------------------------------------------------


@pytest.mark.browser
def test_vendored_altcha_widget_solves_kanal_challenges_in_a_browser(
    page, live_server, settings, mailing_list, consent_text, altcha_on
):
    settings.SITE_URL = live_server.url
    page.goto(f"{live_server.url}/subscribe/{mailing_list.slug}/")
    page.get_by_label("E-Mail-Adresse").fill("widget@example.org")
    page.get_by_label(consent_text.text).check()
    # Ticking starts the proof of work; the tick icon covers the box itself.
    page.locator("altcha-widget input[type=checkbox]").click(force=True)
    page.wait_for_function("() => (document.querySelector('input[name=altcha]') || {}).value")
    page.wait_for_timeout(int(antispam.min_fill_seconds() * 1000))
    page.get_by_role("button", name="Abonnieren").click()
    page.wait_for_url(re.compile(r"/thanks/$"))
    assert Subscriber.objects.get().email == "widget@example.org"


@pytest.mark.browser
def test_snippet_on_another_website_signs_up_in_a_browser(page, live_server, settings, mailing_list, consent_text):
    settings.SITE_URL = live_server.url
    client = Client()
    client.force_login(list_editor())
    code_page = client.get(reverse("subscribers:subscribe_embed_code", kwargs={"slug": mailing_list.slug})).text
    snippet = html.unescape(re.search(r'<code id="kanal-snippet">(.*?)</code>', code_page, re.S).group(1))
    # Chromium sends a cross-site Referer cut to the origin (and none from https to http).
    shop = "http://shop.example.test/newsletter"
    settings.KANAL_EMBED_ORIGINS = ["http://shop.example.test"]
    page.route(
        shop, lambda route: route.fulfill(content_type="text/html", body=f"<!doctype html><html>{snippet}</html>")
    )

    page.goto(shop)
    page.get_by_label("E-Mail-Adresse").fill("Shopper@Example.org")
    page.get_by_label(consent_text.text).check()
    page.get_by_role("button", name="Abonnieren").click()
    page.wait_for_url(re.compile(r"/thanks/$"))

    subscriber = Subscriber.objects.get()
    assert subscriber.email == "shopper@example.org"
    assert subscriber.status == Subscriber.Status.PENDING
    assert ConsentRecord.objects.get().source_url == "http://shop.example.test/"


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "https://shop.example.com.evil.example"},
        {"HTTP_ORIGIN": "http://shop.example.com"},
        {"HTTP_ORIGIN": "null", "HTTP_REFERER": "https://evil.example/page"},
        {"HTTP_ORIGIN": ""},
    ],
)
def test_embedded_form_is_refused_from_sites_not_listed(mailing_list, consent_text, headers):
    data = {"email": "a@example.org", "consent": "on"}
    response = post_embedded(Client(enforce_csrf_checks=True), mailing_list, data, **headers)
    assert response.status_code == 403
    assert nothing_stored()


def test_embedded_form_from_a_listed_site_by_its_referer(mailing_list, consent_text):
    data = {"email": "a@example.org", "consent": "on"}
    headers = {"HTTP_ORIGIN": "", "HTTP_REFERER": "https://shop.example.com/blog"}
    assert post_embedded(Client(enforce_csrf_checks=True), mailing_list, data, **headers).status_code == 302


def test_without_listed_sites_only_kanal_itself_may_post_the_embedded_form(mailing_list, consent_text, settings):
    settings.KANAL_EMBED_ORIGINS = []
    settings.SITE_URL = "https://news.example.com"
    data = {"email": "a@example.org", "consent": "on"}
    assert post_embedded(Client(), mailing_list, data).status_code == 403
    assert post_embedded(Client(), mailing_list, data, HTTP_ORIGIN="https://news.example.com").status_code == 302
