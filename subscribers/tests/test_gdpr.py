import json
from urllib.parse import urlsplit

import pytest

from subscribers import links, selectors
from subscribers.models import ConsentRecord, Subscriber, SuppressedAddress, email_hash
from subscribers.services import gdpr, optin

pytestmark = pytest.mark.django_db


@pytest.fixture
def confirmed(mailing_list, consent_text):
    outcome = optin.subscriber_subscribe(
        email="erika@example.org", mailing_list=mailing_list, consent_text=consent_text, ip_address="203.0.113.1"
    )
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)
    optin.subscription_confirm(
        token=urlsplit(optin.confirmation_url(subscription=outcome.subscription)).path.rstrip("/").rsplit("/", 1)[-1],
        ip_address="203.0.113.2",
    )
    return Subscriber.objects.get()


def data_path(subscriber, action="export"):
    return urlsplit(links.data_link_url(subscriber=subscriber, action=action)).path


def test_export_holds_profile_subscriptions_and_consent_proof(client, confirmed, consent_text):
    response = client.post(data_path(confirmed))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    data = json.loads(response.content)
    assert data["profile"]["email"] == "erika@example.org"
    assert [s["status"] for s in data["subscriptions"]] == ["active"]
    assert [r["action"] for r in data["consent_records"]] == ["signup", "confirm"]
    assert data["consent_records"][0]["consent_text_shown"] == consent_text.text
    assert data["consent_records"][0]["ip_address"] == "203.0.113.1"
    assert len(data["confirmation_mails"]) == 1


def test_other_apps_can_add_export_sections(confirmed, monkeypatch):
    monkeypatch.setattr(gdpr, "EXPORT_SECTIONS", [lambda subscriber: ("surveys", [{"answer": 9}])])
    assert gdpr.subscriber_export(subscriber=confirmed)["surveys"] == [{"answer": 9}]


def test_erase_keeps_only_a_hash_and_an_anonymous_record(client, confirmed):
    preferences_path = urlsplit(links.preferences_url(confirmed)).path
    erase_path = data_path(confirmed, "erase")
    assert client.get(erase_path).status_code == 200
    assert Subscriber.objects.exists(), "GET only asks"

    assert client.post(erase_path).status_code == 200

    assert not Subscriber.objects.exists()
    assert SuppressedAddress.objects.get().email_hash == email_hash("Erika@Example.org")
    (record,) = ConsentRecord.objects.all()
    assert record.action == ConsentRecord.Action.ERASE
    assert record.subscriber is None and record.ip_address is None
    assert "erika" not in json.dumps(record.details)
    assert selectors.address_is_suppressed(email="erika@example.org")
    assert client.get(preferences_path).status_code == 404
    assert client.get(data_path(confirmed)).status_code == 404


def test_erase_does_not_soften_a_bounce_suppression(confirmed):
    SuppressedAddress.objects.create(email_hash=email_hash(confirmed.email), reason=SuppressedAddress.Reason.BOUNCED)
    gdpr.subscriber_erase(subscriber=confirmed)
    assert SuppressedAddress.objects.get().reason == SuppressedAddress.Reason.BOUNCED


def test_erase_hooks_run_before_the_subscriber_is_gone(confirmed, monkeypatch):
    seen = []
    monkeypatch.setattr(
        gdpr, "ERASE_HOOKS", [lambda subscriber: seen.append(Subscriber.objects.filter(pk=subscriber.pk).exists())]
    )
    gdpr.subscriber_erase(subscriber=confirmed)
    assert seen == [True]
