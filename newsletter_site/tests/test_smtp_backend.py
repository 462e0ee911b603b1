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


def test_before_commit_runs_before_the_server_has_the_message(smtp_sink):
    seen_at_commit = []
    outgoing = message()
    outgoing.before_commit = lambda: seen_at_commit.append(len(smtp_sink.messages))
    with get_connection() as connection:
        assert connection.send_messages([outgoing]) == 1
    assert seen_at_commit == [0]
    assert smtp_sink.recipients() == ["a@example.org"]
    parsed = email.message_from_bytes(smtp_sink.messages[0][1])
    assert ".beginnt mit Punkt" in parsed.get_payload(decode=True).decode()


def test_messages_without_the_hook_go_the_usual_way(smtp_sink):
    with get_connection() as connection:
        assert connection.send_messages([message(), message()]) == 2
    assert len(smtp_sink.messages) == 2


def test_a_refused_recipient_raises_before_commit(smtp_sink, monkeypatch):
    import smtplib

    committed = []
    outgoing = message()
    outgoing.before_commit = lambda: committed.append(True)

    async def refuse(server, session, envelope, address, rcpt_options):
        return "550 no such user"

    monkeypatch.setattr(type(smtp_sink), "handle_RCPT", refuse, raising=False)
    with get_connection() as connection, pytest.raises(smtplib.SMTPRecipientsRefused):
        connection.send_messages([outgoing])
    assert committed == []
    assert smtp_sink.messages == []
