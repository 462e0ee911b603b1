"""Real-world shaped mails classified without the database."""

import pytest

from inbound import parsing
from inbound.parsing import Kind
from inbound.tests.conftest import sample


@pytest.mark.parametrize(
    ("name", "status", "diagnostic_part"),
    [
        ("postfix_hard_bounce.eml", "5.1.1", "User unknown in virtual mailbox table"),
        ("exim_hard_bounce.eml", "5.0.0", "550 5.1.1"),
        ("gmail_hard_bounce.eml", "5.1.1", "NoSuchUser"),
        ("outlook_ndr.eml", "5.1.10", "RESOLVER.ADR.RecipientNotFound"),
    ],
)
def test_hard_bounce_dsns_name_the_recipient_status_and_kanal_delivery(name, status, diagnostic_part):
    parsed = parsing.parse(sample(name))
    assert parsed.kind == Kind.DSN
    [failure] = parsed.failures
    assert failure.recipient == "reader@example.org"
    assert failure.action == "failed"
    assert failure.status == status
    assert failure.is_hard and not failure.is_soft
    assert diagnostic_part in failure.diagnostic
    assert parsed.original_message_id == "<kanal.7.42@news.example.com>"
    assert parsed.delivery_ref == (7, 42)


def test_a_failed_4xx_dsn_is_a_soft_bounce():
    [failure] = parsing.parse(sample("postfix_mailbox_full.eml")).failures
    assert (failure.action, failure.status, failure.is_soft, failure.is_hard) == ("failed", "4.2.2", True, False)


def test_a_delayed_dsn_is_neither_hard_nor_soft():
    parsed = parsing.parse(sample("postfix_delayed.eml"))
    [failure] = parsed.failures
    assert (failure.action, failure.status) == ("delayed", "4.4.1")
    assert not failure.is_hard and not failure.is_soft
    assert parsed.delivery_ref == (7, 42)


def test_arf_complaint_names_the_original_recipient_and_message():
    parsed = parsing.parse(sample("yahoo_arf.eml"))
    assert parsed.kind == Kind.COMPLAINT
    assert parsed.feedback_type == "abuse"
    assert parsed.complaint_recipient == "reader@example.org"
    assert parsed.delivery_ref == (7, 42)


@pytest.mark.parametrize(
    ("name", "reason_start"),
    [
        ("ooo_german.eml", "Subject: Abwesenheitsnotiz"),
        ("ooo_english.eml", "X-Autorespond"),
        ("rfc3834_auto_reply.eml", "Auto-Submitted: auto-replied"),
    ],
)
def test_auto_replies_are_recognised(name, reason_start):
    parsed = parsing.parse(sample(name))
    assert parsed.kind == Kind.AUTO_REPLY
    assert parsed.reason.startswith(reason_start)


def test_an_auto_reply_quoting_an_unsubscribe_subject_is_still_an_auto_reply():
    raw = sample("rfc3834_auto_reply.eml").replace(
        b"Subject: Re: Kanal News im November", b"Subject: Re: unsubscribe 6f1c1a0e-8f5b.0:abcdefghijk"
    )
    assert parsing.parse(raw).kind == Kind.AUTO_REPLY


def test_mailto_unsubscribe_token_is_read_from_subject_or_body():
    forged = parsing.parse(sample("mailto_unsubscribe_forged.eml"))
    assert forged.kind == Kind.UNSUBSCRIBE
    assert forged.unsubscribe_token == "6f1c1a0e-8f5b-4c7d-9e2a-3b4c5d6e7f80.0:Zm9yZ2VkLXNpZ25hdHVyZS14eXo"
    in_body = sample("mailto_unsubscribe.eml").replace(
        b"This message was sent", b"unsubscribe 6f1c1a0e-8f5b-4c7d-9e2a-3b4c5d6e7f80.0:Zm9yZ2Vk\n\nSent"
    )
    assert parsing.parse(in_body).unsubscribe_token == "6f1c1a0e-8f5b-4c7d-9e2a-3b4c5d6e7f80.0:Zm9yZ2Vk"


def test_an_ordinary_reply_is_unknown():
    raw = (
        sample("ooo_english.eml")
        .replace(b"X-Autorespond: Out of Office\n", b"")
        .replace(b"Subject: Out of Office:", b"Subject: Re:")
    )
    parsed = parsing.parse(raw)
    assert parsed.kind == Kind.UNKNOWN
    assert parsed.delivery_ref is None


def test_event_id_is_the_message_id_or_a_hash_of_the_bytes():
    raw = sample("postfix_hard_bounce.eml")
    assert parsing.event_id(raw, parsing.parse(raw)) == "mid:<20261120091503.4Xk2Lm0Qz3z9sBk@mail.news.example.com>"
    without = raw.replace(b"Message-Id: <20261120091503.4Xk2Lm0Qz3z9sBk@mail.news.example.com>\n", b"")
    assert parsing.event_id(without, parsing.parse(without)).startswith("sha256:")
    assert parsing.event_id(without, parsing.parse(without)) == parsing.event_id(without, parsing.parse(without))


def test_an_encoded_word_subject_is_decoded_before_reading_the_token():
    raw = sample("mailto_unsubscribe.eml").replace(
        b"Subject: unsubscribe TOKEN", b"Subject: =?utf-8?q?unsubscribe_6f1c1a0e-8f5b=2E0=3AZm9yZ2Vk?="
    )
    assert parsing.parse(raw).unsubscribe_token == "6f1c1a0e-8f5b.0:Zm9yZ2Vk"


@pytest.mark.parametrize(
    ("status", "hard"), [("5.1.1", True), ("5.4.4", True), ("5.7.1", False), ("5.2.2", False), ("4.2.2", False)]
)
def test_policy_rejections_and_full_mailboxes_are_soft(status, hard):
    failure = parsing.Failure(recipient="reader@example.org", action="failed", status=status)
    assert (failure.is_hard, failure.is_soft) == (hard, not hard)


def test_a_transactional_message_id_names_no_campaign_delivery():
    raw = sample("postfix_hard_bounce.eml").replace(b"<kanal.7.42@news.example.com>", b"<kanal.t42@news.example.com>")
    parsed = parsing.parse(raw)
    assert parsed.original_message_id == "<kanal.t42@news.example.com>"
    assert parsed.delivery_ref is None
