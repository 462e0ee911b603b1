import email

import pytest
from anymail.message import AnymailMessage
from django.core.mail import get_connection


def message(**kwargs) -> AnymailMessage:
    return AnymailMessage(
        subject="Hallo",
        body="Zeile\n.beginnt mit Punkt\n",
        to=["a@example.org"],
        from_email="Kanal <n@example.com>",
        **kwargs,
    )


def test_the_hook_runs_before_the_server_has_the_message_and_its_follow_up_after_the_dot(smtp_sink):
    calls = []

    def before_final_dot():
        calls.append(("before", len(smtp_sink.messages)))
        return lambda: calls.append(("after", None))

    outgoing = message()
    outgoing.before_final_dot = before_final_dot
    with get_connection() as connection:
        assert connection.send_messages([outgoing]) == 1
    assert calls == [("before", 0), ("after", None)]
    assert smtp_sink.recipients() == ["a@example.org"]
    parsed = email.message_from_bytes(smtp_sink.messages[0][1])
    assert ".beginnt mit Punkt" in parsed.get_payload(decode=True).decode()


def test_messages_without_the_hook_go_the_usual_way(smtp_sink):
    with get_connection() as connection:
        assert connection.send_messages([message(), message()]) == 2
    assert len(smtp_sink.messages) == 2


def test_a_refused_recipient_raises_before_the_hook(smtp_sink, monkeypatch):
    import smtplib

    committed = []
    outgoing = message()
    outgoing.before_final_dot = lambda: committed.append(True)

    async def refuse(server, session, envelope, address, rcpt_options):
        return "550 no such user"

    monkeypatch.setattr(type(smtp_sink), "handle_RCPT", refuse, raising=False)
    with get_connection() as connection, pytest.raises(smtplib.SMTPRecipientsRefused):
        connection.send_messages([outgoing])
    assert committed == []
    assert smtp_sink.messages == []


def test_a_hook_that_raises_drops_the_connection_so_the_server_keeps_nothing(smtp_sink):
    class ClaimTakenBack(Exception):
        pass

    def refuse():
        raise ClaimTakenBack

    doomed = message()
    doomed.before_final_dot = refuse
    with get_connection() as connection:
        with pytest.raises(ClaimTakenBack):
            connection.send_messages([doomed])
        assert connection.send_messages([message()]) == 1, "the next message opens a new connection"
    assert len(smtp_sink.messages) == 1


@pytest.fixture
def pipelining_sink(smtp_sink, monkeypatch):
    """The sink announcing PIPELINING (RFC 2920); aiosmtpd reads pipelined commands in order anyway."""

    async def handle_EHLO(handler, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    monkeypatch.setattr(type(smtp_sink), "handle_EHLO", handle_EHLO, raising=False)
    return smtp_sink


def test_pipelined_envelopes_deliver_and_a_refusal_keeps_the_session_in_step(pipelining_sink, monkeypatch):
    import smtplib

    async def refuse_some(handler, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    monkeypatch.setattr(type(pipelining_sink), "handle_RCPT", refuse_some, raising=False)
    refused = message()
    refused.to = ["nobody@example.org"]
    refused.before_final_dot = lambda: None
    with get_connection() as connection:
        for number in range(3):
            outgoing = message()
            outgoing.to = [f"r{number}@example.org"]
            outgoing.before_final_dot = lambda: None
            assert connection.send_messages([outgoing]) == 1
        assert connection.connection.has_extn("pipelining")
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            connection.send_messages([refused])
        last = message()
        last.before_final_dot = lambda: None
        assert connection.send_messages([last]) == 1
    assert pipelining_sink.recipients() == ["r0@example.org", "r1@example.org", "r2@example.org", "a@example.org"]
