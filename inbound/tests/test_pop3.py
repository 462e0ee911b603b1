"""The worker's POP3 poll against a real Dovecot on 127.0.0.1 (inbound.tests.dovecot): the same
handling as IMAP, each mail deleted only once it was handled and committed."""

import poplib
import ssl

import pytest

from inbound import mailbox, tasks
from inbound.models import InboundMessage
from inbound.services import MAX_BYTES, inbound_message_handle
from inbound.tests.conftest import mailto_unsubscribe, returned, sample
from inbound.tests.dovecot import PASSWORD, USER, needs_pop3
from subscribers.models import ConsentRecord, Subscriber
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = [pytest.mark.django_db, needs_pop3]


def _left(dovecot) -> int:
    """Mails still in the maildrop."""
    client = poplib.POP3("127.0.0.1", dovecot.pop3_port)
    client.user(USER)
    client.pass_(PASSWORD)
    count, _size = client.stat()
    client.quit()
    return count


def _poll(dovecot, handle):
    return mailbox.mailbox_poll(url=dovecot.pop3_url, handle=handle, max_bytes=MAX_BYTES)


def test_the_poll_applies_every_mail_deletes_it_and_a_second_poll_finds_nothing(settings, dovecot, reader, delivery):
    leaving = SubscriptionFactory(subscriber=SubscriberFactory(email="leaving@example.org")).subscriber
    dovecot.append(
        returned("postfix_hard_bounce.eml", delivery),
        mailto_unsubscribe(settings, leaving),
        sample("mailto_unsubscribe_forged.eml"),
        returned("ooo_german.eml", delivery),
    )
    settings.KANAL_INBOUND_MAILBOX_URL = dovecot.pop3_url

    assert tasks.poll_mailbox() == 4

    reader.refresh_from_db()
    leaving.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert leaving.status == Subscriber.Status.UNSUBSCRIBED
    assert sorted(InboundMessage.objects.values_list("kind", flat=True)) == [
        "auto_reply",
        "hard_bounce",
        "unsubscribe",
        "unsubscribe",
    ]
    assert set(InboundMessage.objects.values_list("source", flat=True)) == {"pop3"}
    assert _left(dovecot) == 0
    assert tasks.poll_mailbox() == 0
    assert InboundMessage.objects.count() == 4


def test_a_mail_whose_handling_fails_stays_and_the_others_are_deleted(dovecot, reader, delivery):
    dovecot.append(returned("postfix_hard_bounce.eml", delivery), returned("yahoo_arf.eml", delivery))

    def handle(raw):
        if b"feedback-report" in raw:
            raise RuntimeError("the database went away")
        inbound_message_handle(raw=raw, source="pop3")

    assert _poll(dovecot, handle) == 1
    assert _left(dovecot) == 1

    assert _poll(dovecot, lambda raw: inbound_message_handle(raw=raw, source="pop3")) == 1
    assert _left(dovecot) == 0
    assert sorted(InboundMessage.objects.values_list("kind", flat=True)) == ["complaint", "hard_bounce"]


def test_a_crash_before_quit_deletes_nothing_and_the_next_poll_applies_nothing_twice(
    settings, dovecot, reader, delivery
):
    dovecot.append(returned("yahoo_arf.eml", delivery), returned("rfc3834_auto_reply.eml", delivery))
    handled = []

    def handle_then_crash(raw):
        inbound_message_handle(raw=raw, source="pop3")
        handled.append(raw)
        if len(handled) == 2:
            raise KeyboardInterrupt  # the worker is killed after both commits, before QUIT

    with pytest.raises(KeyboardInterrupt):
        _poll(dovecot, handle_then_crash)
    assert _left(dovecot) == 2  # the first mail's DELE never took effect

    settings.KANAL_INBOUND_MAILBOX_URL = dovecot.pop3_url
    assert tasks.poll_mailbox() == 2
    assert _left(dovecot) == 0
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.COMPLAINED
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.COMPLAINT).count() == 1
    assert InboundMessage.objects.count() == 2


def test_a_huge_mail_is_kept_only_as_far_as_a_report_needs_and_long_lines_do_not_break_the_poll(
    dovecot, reader, delivery
):
    bounce = returned("postfix_hard_bounce.eml", delivery)
    # Longer than poplib's own line limit (2,048 bytes), and a line that starts with a dot.
    padded = bounce.replace(
        b"Hallo, hier sind die Neuigkeiten.", b"." + b"y" * 10_000 + b"\n" + (b"x" * 76 + b"\n") * 30_000
    )
    assert len(padded) > 2 * MAX_BYTES
    dovecot.append(padded, returned("ooo_german.eml", delivery))
    read = []

    def handle(raw):
        read.append(raw)
        inbound_message_handle(raw=raw, source="pop3")

    assert _poll(dovecot, handle) == 2
    assert len(read[0]) == MAX_BYTES
    assert b"\r\n." + b"y" * 10_000 + b"\r\n" in read[0]  # unstuffed: the server sent "..yyy"
    # The mail after the huge one comes whole: the rest of the huge one was read to its end.
    assert read[1] == returned("ooo_german.eml", delivery).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert _left(dovecot) == 0


def test_pop3s_reads_over_tls_and_checks_the_certificate(settings, monkeypatch, dovecot, reader, delivery):
    dovecot.append(returned("postfix_hard_bounce.eml", delivery))
    settings.KANAL_INBOUND_MAILBOX_URL = dovecot.pop3s_url

    with pytest.raises(ssl.SSLCertVerificationError):  # a certificate nobody vouches for
        tasks.poll_mailbox()
    assert _left(dovecot) == 1

    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.certificate))  # OpenSSL's trust store for this test
    assert tasks.poll_mailbox() == 1
    reader.refresh_from_db()
    assert reader.status == Subscriber.Status.BOUNCED
    assert _left(dovecot) == 0
