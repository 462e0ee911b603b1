import email
import socket

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


def stream_message(recipient: str, events: list) -> AnymailMessage:
    outgoing = message()
    outgoing.to = [recipient]

    def before_final_dot():
        events.append(("commit", recipient))
        return lambda: events.append(("after", recipient))

    outgoing.before_final_dot = before_final_dot
    return outgoing


def built(recipients, events):
    for recipient in recipients:
        events.append(("built", recipient))
        yield stream_message(recipient, events)


def reporter(events, *, stop_on=None):
    def report(outgoing, error):
        events.append(("report", outgoing.to[0], None if error is None else type(error).__name__))
        return outgoing.to[0] != stop_on

    return report


def test_a_stream_finishes_each_message_in_the_write_that_carries_the_next_envelope(pipelining_sink):
    events = []
    recipients = [f"r{number}@example.org" for number in range(4)]
    with get_connection() as connection:
        connection.send_stream(built(recipients, events), reporter(events))
        # Otherwise each "." waits for the server's delayed ACK (about 40 ms) behind the data.
        assert connection.connection.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert pipelining_sink.recipients() == recipients
    # Message n is committed only once message n+1 is built, right before the write with its ".".
    assert events == [
        ("built", "r0@example.org"),
        ("built", "r1@example.org"),
        ("commit", "r0@example.org"),
        ("after", "r0@example.org"),
        ("report", "r0@example.org", None),
        ("built", "r2@example.org"),
        ("commit", "r1@example.org"),
        ("after", "r1@example.org"),
        ("report", "r1@example.org", None),
        ("built", "r3@example.org"),
        ("commit", "r2@example.org"),
        ("after", "r2@example.org"),
        ("report", "r2@example.org", None),
        ("commit", "r3@example.org"),
        ("after", "r3@example.org"),
        ("report", "r3@example.org", None),
    ]


def test_a_stream_reports_refusals_per_message_and_goes_on(pipelining_sink, monkeypatch):
    async def refuse_some(handler, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    original_data = type(pipelining_sink).handle_DATA

    async def reject_some(handler, server, session, envelope):
        if envelope.rcpt_tos == ["full@example.org"]:
            return "452 mailbox full, try later"
        return await original_data(handler, server, session, envelope)

    monkeypatch.setattr(type(pipelining_sink), "handle_RCPT", refuse_some, raising=False)
    monkeypatch.setattr(type(pipelining_sink), "handle_DATA", reject_some)
    events = []
    recipients = ["a@example.org", "nobody@example.org", "full@example.org", "nobody2@example.org", "b@example.org"]
    with get_connection() as connection:
        connection.send_stream(built(recipients, events), reporter(events))
    assert pipelining_sink.recipients() == ["a@example.org", "b@example.org"]
    reports = [event[1:] for event in events if event[0] == "report"]
    assert reports == [
        ("a@example.org", None),
        ("nobody@example.org", "SMTPRecipientsRefused"),
        ("full@example.org", "SMTPDataError"),
        ("nobody2@example.org", "SMTPRecipientsRefused"),
        ("b@example.org", None),
    ]
    commits = [event[1] for event in events if event[0] == "commit"]
    assert commits == ["a@example.org", "full@example.org", "b@example.org"], "no hook for a refused envelope"


def test_a_stream_stops_when_told_and_the_unfinished_next_message_is_dropped(pipelining_sink):
    events = []
    recipients = ["a@example.org", "b@example.org", "c@example.org"]
    with get_connection() as connection:
        connection.send_stream(built(recipients, events), reporter(events, stop_on="a@example.org"))
        assert connection.connection is None, "the next envelope was already out: the session is dropped"
    assert pipelining_sink.recipients() == ["a@example.org"]
    assert [event[1] for event in events if event[0] == "commit"] == ["a@example.org"]


def test_a_hook_that_raises_in_a_stream_drops_that_message_and_propagates(pipelining_sink):
    class ClaimTakenBack(Exception):
        pass

    events = []

    def messages():
        yield from built(["a@example.org"], events)
        doomed = stream_message("b@example.org", events)

        def refuse():
            raise ClaimTakenBack

        doomed.before_final_dot = refuse
        yield doomed
        yield from built(["c@example.org", "d@example.org"], events)

    with get_connection() as connection, pytest.raises(ClaimTakenBack):
        connection.send_stream(messages(), reporter(events))
    assert pipelining_sink.recipients() == ["a@example.org"]
    assert ("built", "d@example.org") not in events


def test_a_stream_without_pipelining_sends_one_message_at_a_time(smtp_sink):
    events = []
    recipients = ["a@example.org", "b@example.org"]
    with get_connection() as connection:
        connection.send_stream(built(recipients, events), reporter(events))
    assert smtp_sink.recipients() == recipients
    assert events[:4] == [
        ("built", "a@example.org"),
        ("commit", "a@example.org"),
        ("after", "a@example.org"),
        ("report", "a@example.org", None),
    ]


def test_a_stream_reports_a_lost_connection_for_the_message_in_flight(pipelining_sink, monkeypatch):
    async def hang_up(handler, server, session, envelope):
        server.transport.close()

    monkeypatch.setattr(type(pipelining_sink), "handle_DATA", hang_up)
    events = []
    with get_connection() as connection:
        connection.send_stream(built(["a@example.org", "b@example.org"], events), reporter(events))
        assert connection.connection is None
    reports = [event[1:] for event in events if event[0] == "report"]
    assert reports == [("a@example.org", "SMTPServerDisconnected"), ("b@example.org", "SMTPServerDisconnected")]
    assert pipelining_sink.messages == []
