"""Every outgoing mail passes ``newsletter_site.mail``: names and subjects from strangers never
break a header, inject one, or fail a delivery, on any transport."""

import email
from email import policy

import pytest
from django.core import mail

from campaigns.models import Campaign, Delivery
from campaigns.previews import preview_recipient
from campaigns.services import sending
from campaigns.services.test_send import campaign_send_test
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site import mail as outgoing
from newsletter_site.testing import wait_until
from subscribers.models import ConfirmationMail
from subscribers.services import optin
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

EVE = "Eve\r\nBcc: x@evil.example"
LONG_NAME = ("Ärmelkanal-Überfahrtsgesellschaft " * 3)[:100]  # as long as a first name may be, not ASCII
NAMES = [
    ("eve@example.org", EVE, "Smith\nX-Injected: yes"),
    ("long@example.org", LONG_NAME.strip(), "Ümlaut" * 16),
    ("plain@example.org", "Erika", "Mustermann"),
]


@pytest.fixture
def news():
    return MailingListFactory(name="News")


@pytest.fixture
def campaign(news):
    campaign = CampaignFactory(
        mailing_lists=[news],
        subject="Neues für {{ subscriber.first_name }} {{ subscriber.last_name }}",
        from_name='Kanal "News", Redaktion\r\nBcc: y@evil.example',
    )
    ArticleFactory(campaign=campaign)
    for address, first_name, last_name in NAMES:
        SubscriptionFactory(
            mailing_list=news,
            subscriber=SubscriberFactory(email=address, first_name=first_name, last_name=last_name),
        )
    return campaign


def assert_clean_headers(raw: bytes, *, recipient: str):
    """One message as it reaches a server: no injected header, every header on its own line."""
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert not parsed.defects
    assert "Bcc" not in parsed and "X-Injected" not in parsed
    header_block = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in header_block and b"\nX-Injected:" not in header_block
    for name, value in parsed.items():
        assert "\r" not in str(value) and "\n" not in str(value), name
    assert [address.addr_spec for address in parsed["To"].addresses] == [recipient]
    assert [address.addr_spec for address in parsed["From"].addresses] == ["news@example.com"]
    assert len(str(parsed["Subject"]).strip()) <= outgoing.SUBJECT_MAX_LENGTH
    return parsed


def is_sent(campaign) -> bool:
    campaign.refresh_from_db()
    return campaign.status == Campaign.Status.SENT


@pytest.mark.parametrize("sink_fixture", ["smtp_sink", "pipelining_sink"])
def test_names_with_line_breaks_neither_fail_nor_inject_over_smtp(
    campaign, sink_fixture, request, celery_worker_thread
):
    sink = request.getfixturevalue(sink_fixture)
    sending.campaign_start(campaign=campaign)
    wait_until(lambda: is_sent(campaign), timeout=60, interval=0.1, message="the campaign to be sent")

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    assert sorted(sink.recipients()) == sorted(address for address, _first, _last in NAMES)
    by_recipient = {recipients[0]: raw for recipients, raw in sink.messages}
    eve = assert_clean_headers(by_recipient["eve@example.org"], recipient="eve@example.org")
    assert eve["Subject"] == "Neues für Eve Bcc: x@evil.example Smith X-Injected: yes"
    assert eve["To"].addresses[0].display_name == "Eve Bcc: x@evil.example Smith X-Injected: yes"
    assert eve["From"].addresses[0].display_name == 'Kanal "News", Redaktion Bcc: y@evil.example'
    long = assert_clean_headers(by_recipient["long@example.org"], recipient="long@example.org")
    assert long["To"].addresses[0].display_name.startswith("Ärmelkanal-Überfahrtsgesellschaft")
    assert_clean_headers(by_recipient["plain@example.org"], recipient="plain@example.org")
    assert email.message_from_bytes(by_recipient["plain@example.org"], policy=policy.default)["To"] == (
        "Erika Mustermann <plain@example.org>"
    )


def test_names_with_line_breaks_neither_fail_nor_inject_through_an_esp(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    assert len(mail.outbox) == 3
    for message in mail.outbox:
        # Anymail's raw-MIME backends (Amazon SES, Postal, …) send exactly this.
        (recipient,) = [address.addr_spec for address in message.anymail_test_params["to"]]
        assert_clean_headers(message.message().as_bytes(), recipient=recipient)
        assert "\n" not in message.subject and "\r" not in message.subject
        assert "\n" not in message.from_email and all("\n" not in to for to in message.to)
        assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.metadata["kind"] == "campaign" and message.tags == ["campaign"]


def test_names_with_line_breaks_neither_fail_nor_inject_in_an_esp_batch(
    campaign, settings, django_capture_on_commit_callbacks
):
    settings.KANAL_ESP_MERGE_FIELD_FORMAT = "%recipient.{}%"
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}
    (message,) = mail.outbox
    params = message.anymail_test_params
    assert sorted(address.addr_spec for address in params["to"]) == sorted(address for address, _f, _l in NAMES)
    assert "\n" not in message.from_email and all("\n" not in to for to in message.to)
    for address, values in params["merge_data"].items():
        subject = values["kanal_subject"]
        assert "\n" not in subject and "\r" not in subject and len(subject) <= outgoing.SUBJECT_MAX_LENGTH, address
        assert "\n" not in params["merge_headers"][address]["List-Unsubscribe"]
    assert params["merge_data"]["eve@example.org"]["kanal_subject"] == (
        "Neues für Eve Bcc: x@evil.example Smith X-Injected: yes"
    )
    names = {address.addr_spec: address.display_name for address in params["to"]}
    assert names["eve@example.org"] == "Eve Bcc: x@evil.example Smith X-Injected: yes"


def test_a_test_send_personalised_with_such_a_name_goes_out_clean(campaign):
    recipient, _subscriber = preview_recipient(campaign, email="eve@example.org")
    assert campaign_send_test(campaign=campaign, addresses=["staff@example.org"], recipient=recipient) == 1

    (message,) = mail.outbox
    assert_clean_headers(message.message().as_bytes(), recipient="staff@example.org")
    assert message.subject.endswith("Neues für Eve Bcc: x@evil.example Smith X-Injected: yes")
    assert message.metadata == {"kind": "campaign-test", "campaign_id": str(campaign.pk)}


def test_a_confirmation_mail_with_line_breaks_in_names_is_sent_clean(smtp_sink):
    mailing_list = MailingListFactory(name="News\r\nBcc: list@evil.example " + "Überlang " * 18)
    outcome = optin.subscriber_subscribe(
        email="eve@example.org", mailing_list=mailing_list, consent_text=None, first_name=EVE, last_name=LONG_NAME
    )
    optin.confirmation_mail_send(confirmation_mail_id=outcome.confirmation_mail.pk)

    assert ConfirmationMail.objects.get().sent_at is not None
    ((recipients, raw),) = smtp_sink.messages
    assert recipients == ["eve@example.org"]
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert not parsed.defects and "Bcc" not in parsed
    assert parsed["To"] == "eve@example.org", "an unconfirmed name stays out of the header"
    subject = str(parsed["Subject"]).strip()
    assert "\n" not in subject and len(subject) <= outgoing.SUBJECT_MAX_LENGTH


def test_header_text_removes_every_line_break_and_caps_the_length():
    assert outgoing.header_text("a\r\nb\rc\nd\te\x00f\u2028g") == "a b c d e f g"
    assert outgoing.subject_text("x" * 1000) == "x" * (outgoing.SUBJECT_MAX_LENGTH - 1) + "…"
    assert outgoing.mailbox("a@example.org", 'Ann "A", B') == '"Ann \\"A\\", B" <a@example.org>'
    assert outgoing.mailbox("a@example.org", "\r\n") == "a@example.org"
