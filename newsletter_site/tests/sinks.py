"""Helpers for the tests' local SMTP servers (aiosmtpd)."""


def announce_pipelining(handler_class, monkeypatch) -> None:
    """Make an aiosmtpd handler announce PIPELINING (RFC 2920), as Postfix and the ESPs' relays do.

    aiosmtpd reads pipelined commands in order anyway; it just does not say so.
    """

    async def handle_EHLO(handler, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    monkeypatch.setattr(handler_class, "handle_EHLO", handle_EHLO, raising=False)
