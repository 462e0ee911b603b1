"""The worker's IMAP poll against a real Dovecot on 127.0.0.1, configured in a temporary directory
(inbound.tests.dovecot)."""

import os
import ssl
import subprocess
import sys

import pytest

from inbound import mailbox, tasks
from inbound.models import InboundMessage
from inbound.services import MAX_BYTES, inbound_message_handle
from inbound.tests.conftest import mailto_unsubscribe, returned, sample
from inbound.tests.dovecot import needs_dovecot
from subscribers.models import ConsentRecord, Subscriber
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _unseen(dovecot) -> list[bytes]:
    client = dovecot.imap()
    _status, found = client.uid("SEARCH", None, "UNSEEN")
    _status, everything = client.uid("SEARCH", None, "ALL")
    client.logout()
    assert everything[0].split(), "the mailbox is empty"
    return found[0].split()


def _poll(url, handle):
    return mailbox.mailbox_poll(url=url, handle=handle, max_bytes=MAX_BYTES)


@needs_dovecot
def test_the_poll_applies_every_unseen_mail_marks_it_seen_and_a_second_poll_changes_nothing(
    settings, dovecot, reader, delivery
):
    leaving = SubscriptionFactory(subscriber=SubscriberFactory(email="leaving@example.org")).subscriber
    dovecot.append(
        returned("postfix_hard_bounce.eml", delivery),
        mailto_unsubscribe(settings, leaving),
        sample("mailto_unsubscribe_forged.eml"),
        returned("ooo_german.eml", delivery),
        returned("rfc3834_auto_reply.eml", delivery),
    )
    settings.KANAL_INBOUND_MAILBOX_URL = dovecot.imap_url

    assert tasks.poll_mailbox() == 5

    reader.refresh_from_db()
    leaving.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert leaving.status == Subscriber.Status.UNSUBSCRIBED
    assert sorted(InboundMessage.objects.values_list("kind", flat=True)) == [
        "auto_reply",
        "auto_reply",
        "hard_bounce",
        "unsubscribe",
        "unsubscribe",
    ]
    assert set(InboundMessage.objects.values_list("source", flat=True)) == {"imap"}
    assert _unseen(dovecot) == []
    records = ConsentRecord.objects.count()

    assert tasks.poll_mailbox() == 0
    assert InboundMessage.objects.count() == 5
    assert ConsentRecord.objects.count() == records


@needs_dovecot
def test_a_crash_after_handling_and_before_marking_seen_does_not_apply_twice(settings, dovecot, reader, delivery):
    dovecot.append(returned("yahoo_arf.eml", delivery))

    def handle_then_crash(raw):
        inbound_message_handle(raw=raw, source="imap")
        raise ConnectionResetError("worker lost before \\Seen")

    assert _poll(dovecot.imap_url, handle_then_crash) == 0
    assert len(_unseen(dovecot)) == 1

    settings.KANAL_INBOUND_MAILBOX_URL = dovecot.imap_url
    assert tasks.poll_mailbox() == 1
    assert _unseen(dovecot) == []
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.COMPLAINED
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.COMPLAINT).count() == 1
    assert InboundMessage.objects.count() == 1


def test_without_a_mailbox_the_poll_does_nothing(settings):
    settings.KANAL_INBOUND_MAILBOX_URL = ""
    assert tasks.poll_mailbox() == 0


def test_mailbox_addresses():
    secure = mailbox.mailbox_address("imaps://bounce%40news.example.com:p%3Ass@mail.example.com/Bounces")
    assert (secure.protocol, secure.secure, secure.host, secure.port, secure.user, secure.password, secure.mailbox) == (
        "imap",
        True,
        "mail.example.com",
        993,
        "bounce@news.example.com",
        "p:ss",
        "Bounces",
    )
    assert mailbox.mailbox_address("imap://u:p@localhost").port == 143
    assert mailbox.mailbox_address("imap://u:p@localhost").mailbox == "INBOX"
    pop3s = mailbox.mailbox_address("pop3s://bounce%40news.example.com:p%3Ass@mail.example.com")
    assert (pop3s.protocol, pop3s.secure, pop3s.port, pop3s.user, pop3s.password) == (
        "pop3",
        True,
        995,
        "bounce@news.example.com",
        "p:ss",
    )
    plain = mailbox.mailbox_address("pop3://u:p@localhost/")
    assert (plain.port, plain.secure, plain.mailbox) == (110, False, "INBOX")
    with pytest.raises(ValueError):
        mailbox.mailbox_address("pop3://u:p@localhost/Bounces")  # POP3 has no folders
    with pytest.raises(ValueError):
        mailbox.mailbox_address("https://u:p@localhost")


def test_the_former_setting_name_still_turns_the_poll_on():
    env = {key: value for key, value in os.environ.items() if key != "KANAL_INBOUND_MAILBOX_URL"}
    env["KANAL_INBOUND_IMAP_URL"] = "imaps://u:p@mail.example.com/INBOX"
    read = subprocess.run(
        [sys.executable, "-c", "from newsletter_site import settings; print(settings.KANAL_INBOUND_MAILBOX_URL)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert read.stdout.strip() == "imaps://u:p@mail.example.com/INBOX"


def test_the_poll_runs_on_the_beat_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["inbound-poll-mailbox"]
    assert entry["task"] == tasks.poll_mailbox.name
    assert entry["schedule"] == 60


@needs_dovecot
def test_a_huge_mail_is_read_only_as_far_as_a_report_needs(dovecot, reader, delivery):
    bounce = returned("postfix_hard_bounce.eml", delivery)
    padded = bounce.replace(b"Hallo, hier sind die Neuigkeiten.", (b"x" * 76 + b"\n") * 30_000)
    assert len(padded) > 2 * MAX_BYTES
    dovecot.append(padded)
    read = []

    def handle(raw):
        read.append(len(raw))
        inbound_message_handle(raw=raw, source="imap")

    assert _poll(dovecot.imap_url, handle) == 1
    assert read == [MAX_BYTES]
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert _unseen(dovecot) == []


@needs_dovecot
def test_imaps_reads_over_tls_and_checks_the_certificate(settings, monkeypatch, dovecot, reader, delivery):
    dovecot.append(returned("yahoo_arf.eml", delivery))
    settings.KANAL_INBOUND_MAILBOX_URL = dovecot.imaps_url

    with pytest.raises(ssl.SSLCertVerificationError):  # a certificate nobody vouches for
        tasks.poll_mailbox()
    assert len(_unseen(dovecot)) == 1

    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.certificate))  # OpenSSL's trust store for this test
    assert tasks.poll_mailbox() == 1
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.COMPLAINED
    assert _unseen(dovecot) == []
