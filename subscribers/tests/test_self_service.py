from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client

from newsletter_site import mail as outgoing_mail
from subscribers import links, tokens
from subscribers.models import ConfirmationMail, ConsentRecord, Subscriber, Subscription
from subscribers.services import optin
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def subscription(mailing_list):
    return SubscriptionFactory(mailing_list=mailing_list, subscriber=SubscriberFactory(email="leser@example.org"))


@pytest.fixture
def subscriber(subscription):
    return subscription.subscriber


def one_click(subscriber, client=None):
    client = client or Client(enforce_csrf_checks=True)
    return client.post(
        path_of(links.one_click_unsubscribe_url(subscriber)),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )


def list_unsubscribe_headers(subscriber) -> dict[str, str]:
    _unsubscribe, _preferences, list_unsubscribe = links.MailLinks().for_subscriber(subscriber)
    return outgoing_mail.unsubscribe_headers(list_unsubscribe)


def test_list_unsubscribe_headers_follow_rfc_8058(subscriber, settings):
    settings.SITE_URL = "https://news.example.com"
    headers = list_unsubscribe_headers(subscriber)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_part = headers["List-Unsubscribe"]
    assert https_part.startswith("<https://news.example.com/unsubscribe/") and https_part.endswith("/one-click/>")

    settings.KANAL_UNSUBSCRIBE_MAILTO = "unsubscribe@news.example.com"
    https_part, mailto_part = list_unsubscribe_headers(subscriber)["List-Unsubscribe"].split(", ")
    assert https_part.endswith("/one-click/>")
    assert mailto_part.startswith("<mailto:unsubscribe@news.example.com?subject=unsubscribe%20")


@pytest.mark.parametrize("value", ["3f2c8a4e-0d1b-4c55-9a7e-2b6f1d0c9e88", "ä", "", "x" * 200])
def test_the_repeated_signer_signs_exactly_what_django_signs(value, settings):
    from django.core import signing

    settings.SECRET_KEY_FALLBACKS = ["an-older-secret"]
    signer = signing.Signer(salt="subscribers.unsubscribe")
    signed = tokens.RepeatedSigner(signer).sign(value)
    assert signed == signer.sign(value)
    assert signer.unsign(signed) == value
    assert signed != tokens.RepeatedSigner(signing.Signer(salt="subscribers.preferences")).sign(value)


@pytest.mark.parametrize("purpose", ["unsubscribe", "preferences", "mailto-unsubscribe"])
def test_the_batch_signer_makes_exactly_the_single_token(purpose, subscriber):
    subscriber.token_version = 3
    single = tokens.make_subscriber_token(public_id=subscriber.public_id, token_version=3, purpose=purpose)
    assert tokens.SubscriberTokens(purpose).sign(subscriber.public_id, 3) == single
    assert tokens.read_subscriber_token(single, purpose=purpose) == (str(subscriber.public_id), 3)


def test_links_from_before_token_versions_still_open_the_pages(subscriber, client):
    from django.core import signing

    legacy = signing.Signer(salt=tokens.SUBSCRIBER_SALTS["unsubscribe"]).sign(str(subscriber.public_id))
    assert client.get(f"/unsubscribe/{legacy}/").status_code == 200
    subscriber.token_version = 1
    subscriber.save(update_fields=["token_version"])
    assert client.get(f"/unsubscribe/{legacy}/").status_code == 404


def test_the_links_in_a_mail_open_the_pages_they_name(subscriber, client):
    unsubscribe, preferences, header = links.MailLinks().for_subscriber(subscriber)
    assert unsubscribe == links.unsubscribe_url(subscriber)
    assert preferences == links.preferences_url(subscriber)
    assert header == list_unsubscribe_headers(subscriber)["List-Unsubscribe"]
    assert client.get(path_of(preferences)).status_code == 200
    assert client.get(path_of(unsubscribe)).status_code == 200


def test_one_click_post_without_cookies_or_csrf_unsubscribes_with_200(subscriber):
    response = one_click(subscriber)
    assert response.status_code == 200
    assert not response.has_header("Location")
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    assert subscriber.subscriptions.get().status == Subscription.Status.UNSUBSCRIBED
    record = ConsentRecord.objects.get(action=ConsentRecord.Action.UNSUBSCRIBE)
    assert record.details == {"source": "one-click (RFC 8058)"}


def test_repeating_one_click_is_harmless(subscriber):
    assert one_click(subscriber).status_code == 200
    assert one_click(subscriber).status_code == 200
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.UNSUBSCRIBE).count() == 1


def test_get_never_unsubscribes(client, subscriber):
    one_click_response = client.get(path_of(links.one_click_unsubscribe_url(subscriber)), follow=True)
    page_response = client.get(path_of(links.unsubscribe_url(subscriber)))
    assert one_click_response.status_code == page_response.status_code == 200
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE


def test_unsubscribe_page_can_leave_one_list_and_keep_another(client, subscriber, mailing_list):
    other = SubscriptionFactory(subscriber=subscriber, mailing_list=MailingListFactory(name="Events"))
    url = path_of(links.unsubscribe_url(subscriber))
    assert "Events" in client.get(url).text
    response = client.post(url, {"scope": str(mailing_list.pk)})
    assert response.status_code == 200
    assert Subscription.objects.get(mailing_list=mailing_list).status == Subscription.Status.UNSUBSCRIBED
    other.refresh_from_db()
    assert other.status == Subscription.Status.ACTIVE
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE


@pytest.mark.parametrize("purpose", ["preferences", "unsubscribe"])
def test_tampered_and_cross_purpose_tokens_write_nothing(client, subscriber, purpose):
    good = path_of(links.preferences_url(subscriber) if purpose == "preferences" else links.unsubscribe_url(subscriber))
    token = good.rstrip("/").rsplit("/", 1)[-1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_purpose = "unsubscribe" if purpose == "preferences" else "preferences"
    foreign = (links.unsubscribe_url if other_purpose == "unsubscribe" else links.preferences_url)(subscriber)
    foreign_token = path_of(foreign).rstrip("/").rsplit("/", 1)[-1]
    for bad in (flipped, foreign_token, "nonsense"):
        response = client.post(good.replace(token, bad), {"scope": "all", "language": "en"})
        assert response.status_code == 404
    assert one_click_with_token(subscriber, flipped).status_code == 404
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE
    assert not ConsentRecord.objects.exists()


def one_click_with_token(subscriber, token):
    url = path_of(links.one_click_unsubscribe_url(subscriber))
    real = url.split("/")[2]
    return Client().post(url.replace(real, token), data="List-Unsubscribe=One-Click", content_type="text/plain")


def test_preference_change_is_recorded_with_what_changed(client, subscriber, mailing_list):
    response = client.post(
        path_of(links.preferences_url(subscriber)),
        {
            "first_name": "Lea",
            "last_name": "Leser",
            "language": "en",
            "tracking_consent": "on",
            "mailing_lists": [str(mailing_list.pk)],
        },
        REMOTE_ADDR="203.0.113.5",
    )
    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert (subscriber.first_name, subscriber.language, subscriber.tracking_consent) == ("Lea", "en", True)
    record = ConsentRecord.objects.get(action=ConsentRecord.Action.PREFERENCES)
    assert record.ip_address == "203.0.113.5"
    assert record.details["changed"]["tracking_consent"] == {"from": False, "to": True}
    assert record.details["changed"]["first_name"] == {"from": "Erika", "to": "Lea"}


def test_joining_a_list_in_preferences_needs_double_opt_in(client, subscriber, mailing_list, consent_text):
    events = MailingListFactory(name="Events")
    with_events = {"language": "de", "mailing_lists": [str(mailing_list.pk), str(events.pk)]}
    client.post(path_of(links.preferences_url(subscriber)), with_events)

    joined = Subscription.objects.get(mailing_list=events)
    assert joined.status == Subscription.Status.PENDING
    optin.confirmation_mail_send(confirmation_mail_id=ConfirmationMail.objects.get().pk)
    assert len(mail.outbox) == 1 and "Events" in mail.outbox[0].subject


def test_leaving_every_list_in_preferences_unsubscribes(client, subscriber):
    client.post(path_of(links.preferences_url(subscriber)), {"language": "de"})
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED


def test_private_lists_are_not_offered_unless_subscribed(client, subscriber):
    MailingListFactory(name="Staff only", is_public=False)
    assert "Staff only" not in client.get(path_of(links.preferences_url(subscriber))).text


def test_user_supplied_names_are_escaped(client, mailing_list):
    hostile = SubscriptionFactory(
        mailing_list=mailing_list, subscriber=SubscriberFactory(first_name="<script>alert(1)</script>")
    ).subscriber
    text = client.get(path_of(links.preferences_url(hostile))).text
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_bad_preference_input_stores_nothing(client, subscriber):
    response = client.post(path_of(links.preferences_url(subscriber)), {"language": "xx", "first_name": "x" * 500})
    assert response.status_code == 400
    assert "invalid-feedback" in response.text
    subscriber.refresh_from_db()
    assert subscriber.first_name == "Erika"
    assert not ConsentRecord.objects.exists()
