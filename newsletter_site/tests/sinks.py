"""Helpers for the tests' local SMTP servers (aiosmtpd)."""

import contextlib
import itertools
import socket
import threading
from collections import Counter, defaultdict


def announce_pipelining(handler_class, monkeypatch) -> None:
    """Make an aiosmtpd handler announce PIPELINING (RFC 2920), as Postfix and the ESPs' relays do.

    aiosmtpd reads pipelined commands in order anyway; it just does not say so.
    """

    async def handle_EHLO(handler, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    monkeypatch.setattr(handler_class, "handle_EHLO", handle_EHLO, raising=False)


class WatchingSink:
    """An aiosmtpd handler that records, per connection, what was delivered and how the connection ended."""

    def __init__(self):
        self.lock = threading.Lock()
        self.delivered: Counter = Counter()
        self.in_flight: dict = {}  # connection -> recipient accepted but whose message never completed
        self.by_connection: dict = defaultdict(list)  # connection -> recipients of its complete messages, in order
        self.quit: set = set()
        self.connections = itertools.count()

    def _connection(self, session) -> int:
        # Not session.peer: a later connection may reuse the port of one that was cut.
        if not hasattr(session, "kanal_connection"):
            session.kanal_connection = next(self.connections)
        return session.kanal_connection

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        with self.lock:
            self.in_flight[self._connection(session)] = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            for address in envelope.rcpt_tos:
                self.delivered[address] += 1
                self.by_connection[self._connection(session)].append(address)
            self.in_flight.pop(self._connection(session), None)
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        with self.lock:
            self.quit.add(self._connection(session))
        return "221 Bye"

    def last_of_each_connection(self) -> set:
        with self.lock:
            return {addresses[-1] for addresses in self.by_connection.values()}

    def cut_connections(self) -> tuple[set, set]:
        """(recipients in flight on connections that ended without QUIT, their last delivered recipients)."""
        with self.lock:
            cut = (set(self.in_flight) | set(self.by_connection)) - self.quit
            return (
                {self.in_flight[peer] for peer in cut if peer in self.in_flight},
                {self.by_connection[peer][-1] for peer in cut if peer in self.by_connection},
            )


@contextlib.contextmanager
def smtp_server(handler):
    """A real SMTP server (aiosmtpd) on a free loopback port, serving ``handler``: ``with … as port:``."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@contextlib.contextmanager
def watching_sink_running(monkeypatch):
    """A WatchingSink on a free port that announces PIPELINING: ``with … as (sink, port):``."""
    handler = WatchingSink()
    announce_pipelining(WatchingSink, monkeypatch)  # the path Kanal takes with Postfix and ESP relays
    with smtp_server(handler) as port:
        yield handler, port


def assert_only_final_dot_window(sink: WatchingSink, everyone: set[str], *, vendor: str, most: int) -> tuple[set, set]:
    """Every address in ``everyone`` got exactly one message, except at most ``most`` messages in
    the one window no sender can close (campaigns.services.transports): on SQLite ("sent" is
    committed just before the final ".") a message in flight on a connection that was cut may be
    missing; on PostgreSQL (committed just after it) the last message of a cut connection may
    arrive twice. Anything else fails. Returns (missing, duplicates)."""
    received = sink.delivered
    missing = everyone - set(received)
    duplicates = {address for address, count in received.items() if count > 1}
    in_flight_when_cut, last_before_cut = sink.cut_connections()
    if vendor == "postgresql":
        assert missing == set()
        assert duplicates <= last_before_cut, duplicates - last_before_cut
    else:
        assert duplicates == set()
        assert missing <= in_flight_when_cut, missing - in_flight_when_cut
    assert all(received[address] == 2 for address in duplicates)
    assert set(received) <= everyone, set(received) - everyone
    assert len(missing) + len(duplicates) <= most, (missing, duplicates)
    return missing, duplicates
