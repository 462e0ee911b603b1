"""Mails that came back change subscribers through the subscribers app's own rules, once each."""

import pytest
from django.dispatch import receiver
from django.utils import timezone

from inbound.models import InboundMessage
from inbound.services import inbound_message_handle
from inbound.tests.conftest import mailto_unsubscribe, returned, sample
from subscribers import signals
from subscribers.links import unsubscribe_token
from subscribers.models import ConsentRecord, Subscriber, Subscription, SuppressedAddress, email_hash
from subscribers.services import gdpr
from subscribers.tests.factories import SubscriberFactory
from tracking.models import DeliveryReport, Event
from tracking.signals import HumanEvent, human_events_counted

pytestmark = pytest.mark.django_db

HARD_BOUNCES = ["postfix_hard_bounce.eml", "exim_hard_bounce.eml", "gmail_hard_bounce.eml", "outlook_ndr.eml"]


@pytest.fixture
def feedback_signals():
    sent = []

    @receiver(signals.esp_feedback_applied, weak=False, dispatch_uid="test.inbound.feedback")
    def applied(sender, subscriber, event_type, **kwargs):
        sent.append((subscriber.email, event_type))

    yield sent
    signals.esp_feedback_applied.disconnect(dispatch_uid="test.inbound.feedback")


@pytest.mark.parametrize("name", HARD_BOUNCES)
def test_hard_bounce_dsn_bounces_the_subscriber_of_the_delivery(name, reader, delivery, feedback_signals):
    record = inbound_message_handle(raw=returned(name, delivery), source="imap")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert SuppressedAddress.objects.get(email_hash=email_hash(reader.email)).reason == SuppressedAddress.Reason.BOUNCED
    consent = ConsentRecord.objects.get(subscriber=reader)
    assert consent.action == ConsentRecord.Action.BOUNCE
    assert consent.details["kind"] == "dsn" and consent.details["delivery_id"] == delivery.pk
    assert feedback_signals == [("reader@example.org", "bounced")]
    assert (record.kind, record.applied, record.subscriber, record.delivery) == (
        InboundMessage.Kind.HARD_BOUNCE,
        True,
        reader,
        delivery,
    )
    assert record.status_code.startswith("5.")
    report = DeliveryReport.objects.get()
    assert (report.kind, report.delivery, report.campaign_id) == (
        DeliveryReport.Kind.BOUNCED,
        delivery,
        delivery.campaign_id,
    )


def test_the_delivery_names_the_person_even_when_the_dsn_names_a_forwarding_address(reader, delivery):
    raw = returned("postfix_hard_bounce.eml", delivery).replace(b"reader@example.org", b"alias@forward.example")
    inbound_message_handle(raw=raw, source="imap")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED


def test_without_a_kanal_message_id_the_recipient_address_is_matched(reader):
    raw = sample("postfix_hard_bounce.eml").replace(b"<kanal.7.42@news.example.com>", b"<other@elsewhere>")
    record = inbound_message_handle(raw=raw, source="imap")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert record.delivery is None and record.subscriber == reader


def test_the_same_dsn_twice_changes_nothing_the_second_time(reader, delivery, feedback_signals):
    raw = returned("postfix_hard_bounce.eml", delivery)
    assert inbound_message_handle(raw=raw, source="imap") is not None
    assert inbound_message_handle(raw=raw, source="anymail:Postmark") is None
    assert ConsentRecord.objects.filter(subscriber=reader).count() == 1
    assert InboundMessage.objects.count() == 1
    assert DeliveryReport.objects.count() == 1
    assert len(feedback_signals) == 1


def test_a_bounce_for_an_unknown_address_is_logged_and_changes_nothing(reader):
    raw = sample("postfix_hard_bounce.eml").replace(b"reader@example.org", b"stranger@example.org")
    record = inbound_message_handle(raw=raw, source="imap")
    assert (record.kind, record.applied, record.outcome) == (
        InboundMessage.Kind.HARD_BOUNCE,
        False,
        InboundMessage.Outcome.NO_SUBSCRIBER,
    )
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE
    assert not SuppressedAddress.objects.exists()


def _soft_bounce(delivery, number: int) -> InboundMessage:
    raw = returned("postfix_mailbox_full.eml", delivery).replace(b"5Ab9Qq1Zx4z7tCm@", f"soft{number}@".encode())
    return inbound_message_handle(raw=raw, source="imap")


def test_soft_bounces_in_a_row_reach_the_limit_then_bounce(settings, reader, delivery, feedback_signals):
    settings.KANAL_SOFT_BOUNCE_LIMIT = 3
    first, second = _soft_bounce(delivery, 1), _soft_bounce(delivery, 2)
    assert (first.kind, first.applied, second.applied) == (InboundMessage.Kind.SOFT_BOUNCE, False, False)
    reader.refresh_from_db()
    assert (reader.status, reader.soft_bounces) == (Subscriber.Status.ACTIVE, 2)
    assert not ConsentRecord.objects.exists()
    third = _soft_bounce(delivery, 3)
    assert third.applied and third.outcome == InboundMessage.Outcome.SOFT_BOUNCE_LIMIT
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert ConsentRecord.objects.get(subscriber=reader).details["soft_bounces"] == 3
    assert feedback_signals == [("reader@example.org", "bounced")]
    assert set(DeliveryReport.objects.values_list("kind", flat=True)) == {DeliveryReport.Kind.SOFT_BOUNCED}
    assert DeliveryReport.objects.count() == 3


def test_the_same_soft_bounce_twice_counts_once(reader, delivery):
    raw = returned("postfix_mailbox_full.eml", delivery)
    inbound_message_handle(raw=raw, source="imap")
    inbound_message_handle(raw=raw, source="imap")
    reader.refresh_from_db()
    assert reader.soft_bounces == 1


def test_a_delay_warning_is_logged_and_not_counted(reader, delivery):
    record = inbound_message_handle(raw=returned("postfix_delayed.eml", delivery), source="imap")
    assert (record.kind, record.applied, record.status_code) == (InboundMessage.Kind.DELAYED, False, "4.4.1")
    reader.refresh_from_db()
    assert (reader.status, reader.soft_bounces) == (Subscriber.Status.ACTIVE, 0)
    assert not DeliveryReport.objects.exists()


def test_arf_complaint_ends_every_subscription_and_suppresses(reader, delivery, feedback_signals):
    record = inbound_message_handle(raw=returned("yahoo_arf.eml", delivery), source="imap")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.COMPLAINED
    assert not reader.subscriptions.exclude(status=Subscription.Status.UNSUBSCRIBED).exists()
    assert SuppressedAddress.objects.get().reason == SuppressedAddress.Reason.COMPLAINED
    assert ConsentRecord.objects.get().action == ConsentRecord.Action.COMPLAINT
    assert feedback_signals == [("reader@example.org", "complained")]
    assert (record.kind, record.delivery) == (InboundMessage.Kind.COMPLAINT, delivery)
    assert DeliveryReport.objects.get(delivery=delivery).kind == DeliveryReport.Kind.COMPLAINED


def test_a_not_spam_report_changes_nothing(reader, delivery):
    raw = returned("yahoo_arf.eml", delivery).replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    record = inbound_message_handle(raw=raw, source="imap")
    assert not record.applied
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE


def test_mailto_unsubscribe_with_the_token_kanal_sent_unsubscribes_from_every_list(settings, reader):
    ended = []

    @receiver(signals.subscriptions_ended, weak=False, dispatch_uid="test.inbound.ended")
    def collect(sender, subscriber, subscriptions, **kwargs):
        ended.extend(subscriptions)

    try:
        record = inbound_message_handle(raw=mailto_unsubscribe(settings, reader), source="imap")
    finally:
        signals.subscriptions_ended.disconnect(dispatch_uid="test.inbound.ended")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.UNSUBSCRIBED
    assert len(ended) == 2
    records = ConsentRecord.objects.filter(subscriber=reader, action=ConsentRecord.Action.UNSUBSCRIBE)
    assert [r.details["source"] for r in records] == ["mailto", "mailto"]
    assert (record.kind, record.applied, record.subscriber) == (InboundMessage.Kind.UNSUBSCRIBE, True, reader)
    assert not SuppressedAddress.objects.exists()


def test_mailto_unsubscribe_with_a_forged_token_does_nothing(reader):
    record = inbound_message_handle(raw=sample("mailto_unsubscribe_forged.eml"), source="imap")
    assert (record.kind, record.applied, record.outcome) == (
        InboundMessage.Kind.UNSUBSCRIBE,
        False,
        InboundMessage.Outcome.INVALID_TOKEN,
    )
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE


def test_mailto_token_of_another_purpose_or_revoked_version_does_nothing(settings, reader):
    raw = mailto_unsubscribe(settings, reader)
    reader.token_version += 1
    reader.save(update_fields=["token_version"])
    assert inbound_message_handle(raw=raw, source="imap").outcome == InboundMessage.Outcome.INVALID_TOKEN
    other = sample("mailto_unsubscribe.eml").replace(b"TOKEN", unsubscribe_token(reader).encode())
    other = other.replace(b"0b1c2d3e-mailto", b"other-purpose")
    assert inbound_message_handle(raw=other, source="imap").outcome == InboundMessage.Outcome.INVALID_TOKEN
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.ACTIVE


@pytest.mark.parametrize("name", ["ooo_german.eml", "ooo_english.eml", "rfc3834_auto_reply.eml"])
def test_auto_replies_are_logged_and_ignored(name, reader, delivery):
    record = inbound_message_handle(raw=returned(name, delivery), source="imap")
    assert (record.kind, record.applied) == (InboundMessage.Kind.AUTO_REPLY, False)
    reader.refresh_from_db()
    assert (reader.status, reader.soft_bounces) == (Subscriber.Status.ACTIVE, 0)
    assert not ConsentRecord.objects.exists()


def test_erasing_a_subscriber_blanks_their_inbound_log(reader, delivery):
    inbound_message_handle(raw=returned("postfix_hard_bounce.eml", delivery), source="imap")
    gdpr.subscriber_erase(subscriber=reader)
    record = InboundMessage.objects.get()
    assert (record.recipient, record.subscriber) == ("", None)


def test_other_subscribers_are_untouched(reader, delivery):
    other = SubscriberFactory(email="other@example.org", status=Subscriber.Status.ACTIVE)
    inbound_message_handle(raw=returned("yahoo_arf.eml", delivery), source="imap")
    other.refresh_from_db()
    assert other.status == Subscriber.Status.ACTIVE


def test_a_human_open_or_click_ends_the_run_of_soft_bounces(settings, reader, delivery):
    settings.KANAL_SOFT_BOUNCE_LIMIT = 2
    _soft_bounce(delivery, 1)
    click = HumanEvent(
        kind="click",
        campaign_id=delivery.campaign_id,
        link_id=None,
        article_id=None,
        subscriber_id=reader.pk,
        occurred_at=timezone.now(),
    )
    human_events_counted.send(sender=Event, events=[click])
    _soft_bounce(delivery, 2)
    reader.refresh_from_db()
    assert (reader.status, reader.soft_bounces) == (Subscriber.Status.ACTIVE, 1)
