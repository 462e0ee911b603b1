"""Django's SMTP backend with one hook: a callback just before the message is committed at the server.

SMTP accepts a message when the client sends the final "." of DATA. A sender that records
"sent" only after the server's 250 sends the message again if it dies anywhere in the server's
processing and the reply; one that records it right before the "." can only lose it if it dies
in the microseconds between that commit and one write(2). The campaign pipeline records "sent"
in ``before_final_dot``, which may return a callable to run right after the "." has left
(campaigns.services.transports). If the hook raises (say, the worker's
claim on the row was taken back), the connection is dropped without the ".", and the server
discards the unfinished message.
"""

import smtplib
import socket
from collections.abc import Callable, Iterable

from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.core.mail.message import sanitize_address


def _angle_address(address: str) -> str:
    if "<" in address or '"' in address or " " in address:
        return smtplib.quoteaddr(address)  # parses; only needed for addresses that are not bare
    return f"<{address}>"


class EmailBackend(DjangoSMTPBackend):
    supports_commit_hook = True
    supports_stream = True

    def _send(self, email_message):
        before_final_dot = getattr(email_message, "before_final_dot", None)
        if before_final_dot is None:
            return super()._send(email_message)
        if not email_message.recipients():
            return False
        from_email, recipients = _envelope_of(email_message)
        smtp = self.connection
        _no_delay(smtp)
        try:
            smtp.ehlo_or_helo_if_needed()
            if smtp.has_extn("pipelining"):
                self._envelope_pipelined(smtp, from_email, recipients)
            else:
                self._envelope(smtp, from_email, recipients)
            smtp.send(self._message_data(email_message))
            try:
                after_final_dot = before_final_dot()
            except BaseException:
                self._abandon()
                raise
            smtp.sock.sendall(b".\r\n")
            if after_final_dot is not None:
                after_final_dot()
            code, response = smtp.getreply()
            if code != 250:
                raise smtplib.SMTPDataError(code, response)
        except smtplib.SMTPServerDisconnected:
            self.connection = None
            raise
        except smtplib.SMTPException:
            if self.fail_silently:
                return False
            if smtp is not None:
                try:
                    smtp.rset()
                except smtplib.SMTPException:
                    self.connection = None
            raise
        return True

    def send_stream(self, messages: Iterable, report: Callable[[object, BaseException | None], bool]) -> None:
        """Send many messages on one connection, each final "." in the same write as the next envelope.

        RFC 2920 lets the end of one message's data share a packet with the next MAIL, RCPT and
        DATA, so a message costs one round trip instead of two. Every message needs
        ``envelope()``, ``message()`` and ``before_final_dot`` (see the module docstring), and
        ``report(message, error)`` is called once per message, ``error`` None when the server
        took it; returning False ends the stream. The hook still runs right before the write
        that carries the "."; the next message is built before it, not after.
        """
        with self._lock:
            new_connection = self.open()
            try:
                if not self.connection:
                    raise smtplib.SMTPServerDisconnected("no connection to the SMTP server")
                smtp = self.connection
                _no_delay(smtp)
                smtp.ehlo_or_helo_if_needed()
                if smtp.has_extn("pipelining"):
                    _Stream(self, smtp, report).run(messages)
                else:
                    for message in messages:
                        if not self._report_one(message, report):
                            break
            finally:
                if new_connection:
                    self.close()

    def _report_one(self, message, report) -> bool:
        try:
            self._send(message)
        except (smtplib.SMTPException, OSError) as error:  # anything else, such as the hook's own error, propagates
            return report(message, error)
        return report(message, None)

    @staticmethod
    def _message_data(message) -> bytes:
        data = message.message().as_bytes(linesep="\r\n")
        # What smtplib.data() does with bytes, unless the message promises no line starts with ".".
        body = data if getattr(message, "dot_safe", False) else smtplib._quote_periods(data)
        return body if body.endswith(b"\r\n") else body + b"\r\n"

    @staticmethod
    def _envelope(smtp, from_email: str, recipients: list[str]) -> None:
        code, response = smtp.mail(from_email)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, response, from_email)
        refused = {}
        for recipient in recipients:
            code, response = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, response)
        if len(refused) == len(recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        code, response = smtp.docmd("data")
        if code != 354:
            raise smtplib.SMTPDataError(code, response)

    @staticmethod
    def _envelope_pipelined(smtp, from_email: str, recipients: list[str]) -> None:
        """MAIL, RCPT and DATA in one write (RFC 2920): one round trip instead of three."""
        smtp.sock.sendall(_envelope_commands(from_email, recipients))
        _envelope_replies(smtp, from_email, recipients)

    def _abandon(self) -> None:
        """Drop the connection in the middle of DATA: without the final "." the server keeps nothing."""
        try:
            if self.connection is not None:
                self.connection.close()
        finally:
            self.connection = None


def _no_delay(smtp: smtplib.SMTP) -> None:
    """The "." follows the data in a write of its own; with Nagle's algorithm on, the kernel would
    hold it back until the server's delayed ACK, some 40 ms per message."""
    if smtp.sock is not None:
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _envelope_of(message) -> tuple[str, list[str]]:
    if hasattr(message, "envelope"):
        return message.envelope()
    encoding = message.encoding or "utf-8"
    from_email = sanitize_address(message.from_email, encoding)
    return from_email, [sanitize_address(address, encoding) for address in message.recipients()]


def _envelope_commands(from_email: str, recipients: list[str]) -> bytes:
    commands = [f"MAIL FROM:{_angle_address(from_email)}"]
    commands += [f"RCPT TO:{_angle_address(recipient)}" for recipient in recipients]
    commands.append("DATA")
    return ("\r\n".join(commands) + "\r\n").encode("ascii")


def _envelope_replies(smtp, from_email: str, recipients: list[str]) -> None:
    """Read the replies to MAIL, RCPT and DATA sent in one group; raise on refusal, after reading them all."""
    # Every command gets its reply, also after a refusal, or the session falls out of step.
    mail_code, mail_response = smtp.getreply()
    refused = {}
    for recipient in recipients:
        code, response = smtp.getreply()
        if code not in (250, 251):
            refused[recipient] = (code, response)
    data_code, data_response = smtp.getreply()
    if data_code == 354 and (mail_code != 250 or len(refused) == len(recipients)):
        smtp.sock.sendall(b".\r\n")  # a server that said 354 anyway gets an empty message it must reject
        smtp.getreply()
    if mail_code != 250:
        raise smtplib.SMTPSenderRefused(mail_code, mail_response, from_email)
    if len(refused) == len(recipients):
        raise smtplib.SMTPRecipientsRefused(refused)
    if data_code != 354:
        raise smtplib.SMTPDataError(data_code, data_response)


class _Stream:
    """One pipelined SMTP session over many messages.

    A message whose data is out waits for its "." until the next message is built, so the "."
    (after the commit hook) and the next envelope leave in one write, and the server answers
    both in one packet.
    """

    def __init__(self, backend: EmailBackend, smtp: smtplib.SMTP, report):
        self.backend = backend
        self.smtp = smtp
        self.report = report
        self.pending = None  # data sent, final "." not yet
        self.rset_first = False  # the last envelope was refused: the server wants RSET before MAIL

    def run(self, messages: Iterable) -> None:
        try:
            for message in messages:
                if not self._send(message):
                    return
            if self.pending is not None:
                self._send(None)
        except BaseException:
            # The session is in an unknown state; a message whose hook never ran must not be finished.
            self.backend._abandon()
            raise

    def _send(self, message) -> bool:
        pending, self.pending = self.pending, None
        head = b""
        after_final_dot = None
        if pending is not None:
            try:
                after_final_dot = pending.before_final_dot()
            except BaseException:
                self.backend._abandon()
                raise
            head = b".\r\n"
        if self.rset_first:
            head += b"RSET\r\n"
        if message is not None:
            from_email, recipients = _envelope_of(message)
            body = self.backend._message_data(message)
            head += _envelope_commands(from_email, recipients)
        try:
            self.smtp.sock.sendall(head)
            if after_final_dot is not None:
                after_final_dot()
            if pending is not None:
                code, response = self.smtp.getreply()
                accepted = self.report(pending, None if code == 250 else smtplib.SMTPDataError(code, response))
                pending = None
                if not accepted:
                    self.backend._abandon()  # the next message got no data: the server drops it
                    return False
            if self.rset_first:
                self.smtp.getreply()
                self.rset_first = False
            if message is None:
                return True
            try:
                _envelope_replies(self.smtp, from_email, recipients)
            except smtplib.SMTPServerDisconnected:
                raise
            except smtplib.SMTPException as refusal:
                self.rset_first = True
                return self.report(message, refusal)
            self.smtp.send(body)
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            self.backend._abandon()
            if pending is not None:
                self.report(pending, error)  # its "." may have arrived: the caller decides
            if message is not None:
                self.report(message, error)
            return False
        self.pending = message
        return True
