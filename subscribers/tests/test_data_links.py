"""Data export and erasure from a mail link: the links in a newsletter only ask for a one-time link,
which goes to the subscriber's own address; only that link exports or erases."""

import json
import re
import time
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from newsletter_site.testing import wait_until
from subscribers import links, tokens
from subscribers.models import Subscriber
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def subscriber(mailing_list):
    subscriber = SubscriberFactory(email="leser@example.org")
    SubscriptionFactory(mailing_list=mailing_list, subscriber=subscriber, status="active")
    return subscriber


def targets_on(html: str) -> set[str]:
    """Every link and form target on a page."""
    found = re.findall(r'(?:href|action)="([^"]+)"', html)
    return {unescape(target) for target in found if target.startswith("/") and not target.startswith("/static/")}


def test_a_forwarded_mails_links_can_neither_export_nor_erase(subscriber):
    """Whoever holds a forwarded newsletter has its preference and unsubscribe links, and every link
    those pages lead to: none of it returns the person's data or deletes them."""
    stranger = Client()
    pages = [path_of(links.preferences_url(subscriber)), path_of(links.unsubscribe_url(subscriber))]
    seen = set()
    while pages:
        page = pages.pop()
        if page in seen:
            continue
        seen.add(page)
        response = stranger.get(page)
        assert "json" not in response.get("Content-Type", "")
        if response.status_code == 200 and "html" in response["Content-Type"]:
            pages.extend(targets_on(response.content.decode()) - seen)
    for target in seen:
        for action in ("export", "erase"):
            response = stranger.post(target, {"action": action, "confirm": "yes"})
            assert "json" not in response.get("Content-Type", ""), target
            assert b"203.0.113" not in response.content
    assert Subscriber.objects.filter(pk=subscriber.pk).exists(), "nobody but the owner may erase"
    for message in mail.outbox:
        assert message.to == ["leser@example.org"], "a requested link goes to the subscriber's own address only"


def test_mail_tokens_do_not_open_the_data_pages(subscriber, client):
    for token in (
        tokens.make_subscriber_token(public_id=subscriber.public_id, token_version=0, purpose="preferences"),
        tokens.make_subscriber_token(public_id=subscriber.public_id, token_version=0, purpose="unsubscribe"),
    ):
        for name in ("subscribers:data_export", "subscribers:data_erase"):
            url = reverse(name, kwargs={"public_id": subscriber.public_id, "token": token})
            assert client.get(url).status_code == 404
            assert client.post(url).status_code == 404
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()


def request_link(client, subscriber, action: str, django_capture_on_commit_callbacks):
    """Press a button on the preference page and run what it queued."""
    from subscribers.services import data_links

    url = reverse("subscribers:data_link_request", kwargs={"token": links.preferences_token(subscriber)})
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url, {"action": action})
    assert len(callbacks) == 1, "the mail is queued once, after commit"
    data_links.data_link_mail_send(subscriber_id=subscriber.pk, action=action)
    return response


def mailed_link(action: str) -> str:
    message = mail.outbox[-1]
    assert message.to == ["leser@example.org"]
    (url,) = {url for url in re.findall(r"https?://\S+", message.body) if "/my-data/" in url}
    assert (action == "erase") == url.rstrip("/").endswith("/erase")
    return path_of(url)


def test_the_button_mails_a_link_to_the_subscriber_and_shows_nothing_new(
    subscriber, client, django_capture_on_commit_callbacks
):
    response = request_link(client, subscriber, "export", django_capture_on_commit_callbacks)
    assert response.status_code == 200
    assert "leser@example.org" not in response.content.decode()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].metadata["kind"] == "data-link"


def test_get_on_the_request_url_sends_nothing(subscriber, client):
    url = reverse("subscribers:data_link_request", kwargs={"token": links.preferences_token(subscriber)})
    assert client.get(url).status_code == 405
    assert mail.outbox == []


def test_mailed_export_link_works_once(subscriber, client, django_capture_on_commit_callbacks):
    request_link(client, subscriber, "export", django_capture_on_commit_callbacks)
    url = mailed_link("export")

    assert client.get(url).status_code == 200, "GET shows a button"
    assert client.get(url).status_code == 200, "and changes nothing"
    response = client.post(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert "no-store" in response["Cache-Control"]
    assert json.loads(response.content)["profile"]["email"] == "leser@example.org"

    assert client.post(url).status_code == 404, "the link works once"
    assert client.get(url).status_code == 404


def test_mailed_link_expires_after_24_hours(subscriber, client, django_capture_on_commit_callbacks, monkeypatch):
    request_link(client, subscriber, "export", django_capture_on_commit_callbacks)
    url = mailed_link("export")
    later = time.time() + 24 * 3600 + 5
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    assert client.post(url).status_code == 404


def test_revoking_a_subscribers_links_kills_every_link(subscriber, client, django_capture_on_commit_callbacks):
    from subscribers.services import data_links

    request_link(client, subscriber, "export", django_capture_on_commit_callbacks)
    data_url = mailed_link("export")
    mail_links = [path_of(links.preferences_url(subscriber)), path_of(links.unsubscribe_url(subscriber))]
    assert all(client.get(url).status_code == 200 for url in mail_links)

    data_links.subscriber_links_revoke(subscriber=subscriber)

    assert client.post(data_url).status_code == 404
    assert all(client.get(url).status_code == 404 for url in mail_links)
    subscriber.refresh_from_db()
    assert client.get(path_of(links.preferences_url(subscriber))).status_code == 200, "new mails carry new links"


def test_erase_link_asks_on_get_and_erases_on_post(subscriber, client, django_capture_on_commit_callbacks):
    request_link(client, subscriber, "erase", django_capture_on_commit_callbacks)
    url = mailed_link("erase")

    response = client.get(url)
    assert response.status_code == 200
    assert '<form method="post"' in response.content.decode()
    assert Subscriber.objects.filter(pk=subscriber.pk).exists(), "GET only asks"

    assert client.post(url).status_code == 200
    assert not Subscriber.objects.filter(pk=subscriber.pk).exists()
    assert client.post(url).status_code == 404


def test_an_export_link_does_not_erase(subscriber, client, django_capture_on_commit_callbacks):
    request_link(client, subscriber, "export", django_capture_on_commit_callbacks)
    export_url = mailed_link("export")
    assert client.post(export_url + "erase/").status_code == 404
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()


def test_using_one_data_link_spends_the_other(subscriber, client, django_capture_on_commit_callbacks):
    request_link(client, subscriber, "erase", django_capture_on_commit_callbacks)
    erase_url = mailed_link("erase")
    request_link(client, subscriber, "export", django_capture_on_commit_callbacks)
    assert client.post(mailed_link("export")).status_code == 200
    assert client.post(erase_url).status_code == 404
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()


def test_request_buttons_are_rate_limited(subscriber, client, settings, django_capture_on_commit_callbacks):
    settings.KANAL_DATA_LINK_RATE = "2/h"
    url = reverse("subscribers:data_link_request", kwargs={"token": links.preferences_token(subscriber)})
    with django_capture_on_commit_callbacks() as callbacks:
        statuses = [client.post(url, {"action": "export"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert len(callbacks) == 2


def test_real_worker_mails_the_link(subscriber, celery_worker_thread):
    client = Client()
    url = reverse("subscribers:data_link_request", kwargs={"token": links.preferences_token(subscriber)})
    assert client.post(url, {"action": "export"}).status_code == 200
    wait_until(lambda: mail.outbox, timeout=15, message="the mail with the export link")
    assert client.post(mailed_link("export")).status_code == 200


def test_suppressed_address_gets_no_link(subscriber, client, django_capture_on_commit_callbacks):
    from subscribers.models import SuppressedAddress, email_hash
    from subscribers.services import data_links

    SuppressedAddress.objects.create(email_hash=email_hash(subscriber.email), reason=SuppressedAddress.Reason.BOUNCED)
    data_links.data_link_mail_send(subscriber_id=subscriber.pk, action="export")
    assert mail.outbox == []


def test_link_older_than_a_changed_address_is_dead(subscriber, client, django_capture_on_commit_callbacks):
    request_link(client, subscriber, "export", django_capture_on_commit_callbacks)
    url = mailed_link("export")
    Subscriber.objects.filter(pk=subscriber.pk).update(email="neu@example.org")
    assert client.post(url).status_code == 404


def test_staff_revoke_every_link_of_a_subscriber_from_the_admin(subscriber, admin_client, client):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    old_link = path_of(links.unsubscribe_url(subscriber))
    other = SubscriberFactory()
    other_link = path_of(links.unsubscribe_url(other))
    response = admin_client.post(
        reverse("admin:subscribers_subscriber_changelist"),
        {"action": "revoke_links", ACTION_CHECKBOX_NAME: [str(subscriber.pk)]},
    )
    assert response.status_code == 302
    assert client.get(old_link).status_code == 404
    assert client.get(other_link).status_code == 200, "only the chosen subscriber's links"
