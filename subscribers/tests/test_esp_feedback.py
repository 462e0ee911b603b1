"""ESP feedback arrives through Anymail's real webhook endpoints: bounces, complaints, ESP unsubscribes."""

import base64
import json

import pytest
from django.core import mail

from subscribers import selectors
from subscribers.models import (
    ConfirmationMail,
    ConsentRecord,
    EspEvent,
    Subscriber,
    Subscription,
    SuppressedAddress,
    email_hash,
)
from subscribers.services import optin
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory

# The webhooks are mounted only with ANYMAIL_WEBHOOK_SECRET set (newsletter_site/tests/test_checks.py).
pytestmark = [pytest.mark.django_db, pytest.mark.urls("newsletter_site.tests.urls_with_webhooks")]

WEBHOOK_SECRET = "kanal:secret"
# Anymail no longer supports SendGrid officially and says so on every request.
ignore_sendgrid_warning = pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")


@pytest.fixture(autouse=True)
def _webhook_secret(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture
def reader(mailing_list):
    subscriber = SubscriberFactory(email="reader@example.org")
    SubscriptionFactory(subscriber=subscriber, mailing_list=mailing_list)
    return subscriber


def auth_header(secret: str = WEBHOOK_SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def post_webhook(client, esp: str, payload, **headers):
    return client.post(
        f"/anymail/{esp}/tracking/", data=json.dumps(payload), content_type="application/json", **headers
    )


def postmark_bounce(*, email="reader@example.org", bounce_id=4323372036854775807, bounce_type="HardBounce"):
    return {
        "RecordType": "Bounce",
        "MessageStream": "broadcast",
        "ID": bounce_id,
        "Type": bounce_type,
        "TypeCode": {"HardBounce": 1, "SoftBounce": 4096, "Transient": 2}[bounce_type],
        "Name": {"HardBounce": "Hard bounce", "SoftBounce": "Soft bounce", "Transient": "Message delayed"}[bounce_type],
        "Tag": "newsletter",
        "MessageID": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "Metadata": {"kind": "campaign"},
        "ServerID": 1234,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": email,
        "From": "newsletter@example.com",
        "BouncedAt": "2026-11-20T09:15:02.1234567Z",
        "DumpAvailable": False,
        "Inactive": bounce_type == "HardBounce",
        "CanActivate": True,
        "Subject": "Kanal News im November",
    }


def postmark_spam_complaint(*, email="reader@example.org"):
    return {
        "RecordType": "SpamComplaint",
        "MessageStream": "broadcast",
        "ID": 5555500001,
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "Name": "Spam complaint",
        "Tag": "newsletter",
        "MessageID": "11111111-2222-4333-8444-555555555555",
        "Metadata": {},
        "ServerID": 1234,
        "Description": "The subscriber explicitly marked this message as spam.",
        "Details": "Test spam complaint details",
        "Email": email,
        "From": "newsletter@example.com",
        "BouncedAt": "2026-11-20T10:00:00Z",
        "DumpAvailable": False,
        "Inactive": True,
        "CanActivate": False,
        "Subject": "Kanal News im November",
    }


def postmark_subscription_change(*, email="reader@example.org"):
    # Postmark sends these without an ID: Kanal derives one from the event's content.
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": "99999999-8888-4777-8666-555555555555",
        "ServerID": 1234,
        "MessageStream": "broadcast",
        "ChangedAt": "2026-11-20T11:30:00.5Z",
        "Recipient": email,
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "newsletter",
        "Metadata": {},
    }


def sendgrid_event(event: str, *, email="reader@example.org", sg_event_id="c2VuZGdyaWQtZXZlbnQtMQ", **extra):
    return {
        "email": email,
        "timestamp": 1763630000,
        "smtp-id": "<20261120.abc123@kanal.example.com>",
        "event": event,
        "category": ["newsletter"],
        "sg_event_id": sg_event_id,
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **extra,
    }


def test_webhook_without_basic_auth_is_refused_and_changes_nothing(client, reader):
    response = post_webhook(client, "postmark", postmark_bounce())
    wrong = post_webhook(client, "postmark", postmark_bounce(), **auth_header("kanal:guess"))
    # Anymail turns a failed basic-auth check into SuspiciousOperation, which Django answers with 400.
    assert response.status_code == wrong.status_code == 400
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE
    assert not EspEvent.objects.exists()
    assert not SuppressedAddress.objects.exists()


def test_postmark_hard_bounce_marks_bounced_and_suppresses(client, reader):
    response = post_webhook(client, "postmark", postmark_bounce(), **auth_header())
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert SuppressedAddress.objects.get(email_hash=email_hash("reader@example.org")).reason == "bounced"
    record = ConsentRecord.objects.get(subscriber=reader)
    assert record.action == ConsentRecord.Action.BOUNCE
    assert record.details["esp"] == "Postmark"
    assert record.details["event_id"] == "4323372036854775807"
    assert record.details["bounce_type"] == "HardBounce"
    assert not selectors.address_may_receive_mail(email="Reader@Example.org")


def test_postmark_spam_complaint_unsubscribes_everything_and_suppresses(client, reader, mailing_list):
    second_list = SubscriptionFactory(subscriber=reader).mailing_list
    response = post_webhook(client, "postmark", postmark_spam_complaint(), **auth_header())
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.COMPLAINED
    assert set(reader.subscriptions.values_list("status", flat=True)) == {Subscription.Status.UNSUBSCRIBED}
    assert all(s.unsubscribed_at for s in reader.subscriptions.all())
    assert SuppressedAddress.objects.get().reason == SuppressedAddress.Reason.COMPLAINED
    record = ConsentRecord.objects.get(subscriber=reader)
    assert record.action == ConsentRecord.Action.COMPLAINT
    assert sorted(record.details["unsubscribed_lists"]) == sorted([mailing_list.slug, second_list.slug])


def test_postmark_subscription_change_is_an_esp_unsubscribe(client, reader):
    response = post_webhook(client, "postmark", postmark_subscription_change(), **auth_header())
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    assert reader.subscriptions.get().status == Subscription.Status.UNSUBSCRIBED
    record = ConsentRecord.objects.get(subscriber=reader)
    assert record.action == ConsentRecord.Action.UNSUBSCRIBE
    assert record.details["esp"] == "Postmark"
    assert not SuppressedAddress.objects.exists(), "an unsubscribe is not a suppression"


@pytest.mark.parametrize(
    "payload",
    [postmark_bounce(), postmark_spam_complaint(), postmark_subscription_change()],
    ids=["bounce", "complaint", "unsubscribe-without-event-id"],
)
def test_the_same_event_delivered_twice_is_processed_once(client, reader, payload):
    first = post_webhook(client, "postmark", payload, **auth_header())
    second = post_webhook(client, "postmark", payload, **auth_header())
    assert first.status_code == second.status_code == 200
    assert EspEvent.objects.count() == 1
    assert ConsentRecord.objects.filter(subscriber=reader).count() == 1


def test_a_delay_changes_nothing(client, reader):
    response = post_webhook(client, "postmark", postmark_bounce(bounce_type="Transient"), **auth_header())
    assert response.status_code == 200
    reader.refresh_from_db()
    assert (reader.status, reader.soft_bounces) == (Subscriber.Status.ACTIVE, 0)
    assert not SuppressedAddress.objects.exists()
    assert not ConsentRecord.objects.exists()
    assert not EspEvent.objects.exists()


def test_soft_bounces_in_a_row_bounce_at_the_limit_and_each_counts_once(client, reader, settings):
    settings.KANAL_SOFT_BOUNCE_LIMIT = 2
    soft = postmark_bounce(bounce_type="SoftBounce", bounce_id=1)
    post_webhook(client, "postmark", soft, **auth_header())
    post_webhook(client, "postmark", soft, **auth_header())
    reader.refresh_from_db()
    assert (reader.status, reader.soft_bounces) == (Subscriber.Status.ACTIVE, 1)
    assert not ConsentRecord.objects.exists()
    post_webhook(client, "postmark", postmark_bounce(bounce_type="SoftBounce", bounce_id=2), **auth_header())
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert SuppressedAddress.objects.get().reason == SuppressedAddress.Reason.BOUNCED
    assert ConsentRecord.objects.get().details["soft_bounces"] == 2


def test_a_delivered_mail_ends_the_run_of_soft_bounces(client, reader, settings):
    settings.KANAL_SOFT_BOUNCE_LIMIT = 2
    post_webhook(client, "postmark", postmark_bounce(bounce_type="SoftBounce", bounce_id=1), **auth_header())
    delivered = {
        "RecordType": "Delivery",
        "MessageID": "7f0e1d2c-3b4a-4958-8d7e-6f5a4b3c2d1e",
        "Recipient": "Reader@example.org",
        "DeliveredAt": "2026-11-21T09:15:02Z",
        "Details": "smtp;250 2.0.0 OK",
        "Tag": "newsletter",
        "ServerID": 1234,
        "Metadata": {},
    }
    assert post_webhook(client, "postmark", delivered, **auth_header()).status_code == 200
    post_webhook(client, "postmark", postmark_bounce(bounce_type="SoftBounce", bounce_id=2), **auth_header())
    reader.refresh_from_db()
    assert (reader.status, reader.soft_bounces) == (Subscriber.Status.ACTIVE, 1)


def test_bounce_for_an_unknown_address_is_recorded_and_changes_nothing(client, reader):
    response = post_webhook(client, "postmark", postmark_bounce(email="stranger@example.org"), **auth_header())
    assert response.status_code == 200
    assert EspEvent.objects.get().recipient == "stranger@example.org"
    assert not SuppressedAddress.objects.exists()
    assert not ConsentRecord.objects.exists()
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE


def test_a_later_bounce_never_downgrades_a_complaint(client, reader):
    post_webhook(client, "postmark", postmark_spam_complaint(), **auth_header())
    post_webhook(client, "postmark", postmark_bounce(), **auth_header())
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.COMPLAINED
    assert SuppressedAddress.objects.get().reason == SuppressedAddress.Reason.COMPLAINED
    assert EspEvent.objects.count() == 2


def test_a_bounce_upgrades_an_erasure_suppression(client, reader):
    SuppressedAddress.objects.create(email_hash=email_hash(reader.email), reason=SuppressedAddress.Reason.ERASED)
    post_webhook(client, "postmark", postmark_bounce(), **auth_header())
    assert SuppressedAddress.objects.get().reason == SuppressedAddress.Reason.BOUNCED


@ignore_sendgrid_warning
def test_sendgrid_batch_with_bounce_spam_report_and_deferral(client, mailing_list):
    bounced = SubscriptionFactory(subscriber=SubscriberFactory(email="gone@example.org"), mailing_list=mailing_list)
    spam = SubscriptionFactory(subscriber=SubscriberFactory(email="angry@example.org"), mailing_list=mailing_list)
    late = SubscriptionFactory(subscriber=SubscriberFactory(email="slow@example.org"), mailing_list=mailing_list)
    batch = [
        sendgrid_event(
            "bounce",
            email="gone@example.org",
            sg_event_id="Ym91bmNlLTE",
            reason="550 5.1.1 The email account that you tried to reach does not exist",
            status="5.1.1",
            type="bounce",
        ),
        sendgrid_event("spamreport", email="angry@example.org", sg_event_id="c3BhbS0x"),
        sendgrid_event(
            "deferred", email="slow@example.org", sg_event_id="ZGVmZXJyZWQtMQ", response="421 try later", attempt="1"
        ),
        sendgrid_event("delivered", email="slow@example.org", sg_event_id="ZGVsaXZlcmVkLTE", response="250 OK"),
    ]
    response = post_webhook(client, "sendgrid", batch, **auth_header())
    assert response.status_code == 200
    statuses = dict(Subscriber.objects.values_list("email", "status"))
    assert statuses == {
        "gone@example.org": Subscriber.Status.BOUNCED,
        "angry@example.org": Subscriber.Status.COMPLAINED,
        "slow@example.org": Subscriber.Status.ACTIVE,
    }
    spam.refresh_from_db()
    late.refresh_from_db()
    bounced.refresh_from_db()
    assert spam.status == Subscription.Status.UNSUBSCRIBED
    assert late.status == bounced.status == Subscription.Status.ACTIVE
    assert sorted(EspEvent.objects.values_list("event_type", flat=True)) == ["bounced", "complained"]

    # SendGrid retries the whole batch when it does not get a 2xx in time.
    assert post_webhook(client, "sendgrid", batch, **auth_header()).status_code == 200
    assert EspEvent.objects.count() == 2
    assert ConsentRecord.objects.count() == 2


@ignore_sendgrid_warning
def test_sendgrid_blocked_bounce_is_soft_and_unsubscribe_is_honoured(client, reader):
    """A blocked mail is counted as one soft bounce, below the limit; the unsubscribe is honoured."""
    batch = [
        sendgrid_event("bounce", sg_event_id="YmxvY2tlZC0x", reason="blocked by reputation", type="blocked"),
        sendgrid_event("unsubscribe", sg_event_id="dW5zdWItMQ"),
    ]
    assert post_webhook(client, "sendgrid", batch, **auth_header()).status_code == 200
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    assert not SuppressedAddress.objects.exists()
    assert list(ConsentRecord.objects.values_list("action", flat=True)) == [ConsentRecord.Action.UNSUBSCRIBE]


def test_bounced_address_gets_no_more_confirmation_mails(client, mailing_list, consent_text):
    outcome = optin.subscriber_subscribe(email="new@example.org", mailing_list=mailing_list, consent_text=consent_text)
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)
    assert len(mail.outbox) == 1

    post_webhook(client, "postmark", postmark_bounce(email="new@example.org"), **auth_header())
    again = optin.subscriber_subscribe(email="new@example.org", mailing_list=mailing_list, consent_text=consent_text)

    assert again.confirmation_mail is None
    assert ConfirmationMail.objects.count() == 1
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("reason", ["bounced", "complained", "manual"])
def test_suppressed_address_gets_no_confirmation_mail(mailing_list, consent_text, reason):
    SuppressedAddress.objects.create(email_hash=email_hash("blocked@example.org"), reason=reason)
    outcome = optin.subscriber_subscribe(
        email="Blocked@Example.org", mailing_list=mailing_list, consent_text=consent_text
    )
    assert outcome.confirmation_mail is None
    assert not ConfirmationMail.objects.exists()
    assert not mail.outbox


def test_mail_queued_before_a_complaint_is_not_sent_after_it(client, mailing_list, consent_text):
    outcome = optin.subscriber_subscribe(email="new@example.org", mailing_list=mailing_list, consent_text=consent_text)
    post_webhook(client, "postmark", postmark_spam_complaint(email="new@example.org"), **auth_header())
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)
    assert not mail.outbox
    assert ConfirmationMail.objects.get().sent_at is None


def test_erased_address_may_sign_up_again_and_confirmation_lifts_only_that(client, mailing_list, consent_text):
    SuppressedAddress.objects.create(email_hash=email_hash("back@example.org"), reason="erased")
    assert selectors.address_may_receive_mail(email="back@example.org")
    outcome = optin.subscriber_subscribe(email="back@example.org", mailing_list=mailing_list, consent_text=consent_text)
    assert outcome.confirmation_mail is not None
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)
    token = mail.outbox[-1].body.split("/confirm/")[1].split("/")[0]
    assert client.post(f"/confirm/{token}/").status_code == 200
    assert not SuppressedAddress.objects.exists()


def test_confirming_an_old_link_does_not_lift_a_bounce_suppression(client, mailing_list, consent_text):
    outcome = optin.subscriber_subscribe(email="old@example.org", mailing_list=mailing_list, consent_text=consent_text)
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)
    token = mail.outbox[-1].body.split("/confirm/")[1].split("/")[0]
    SuppressedAddress.objects.create(email_hash=email_hash("old@example.org"), reason="bounced")

    client.post(f"/confirm/{token}/")

    assert SuppressedAddress.objects.get().reason == SuppressedAddress.Reason.BOUNCED
    assert not selectors.address_may_receive_mail(email="old@example.org")
