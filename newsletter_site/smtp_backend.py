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

from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.core.mail.message import sanitize_address


def _angle_address(address: str) -> str:
    if "<" in address or '"' in address or " " in address:
        return smtplib.quoteaddr(address)  # parses; only needed for addresses that are not bare
    return f"<{address}>"


class EmailBackend(DjangoSMTPBackend):
    supports_commit_hook = True

    def _send(self, email_message):
        before_final_dot = getattr(email_message, "before_final_dot", None)
        if before_final_dot is None:
            return super()._send(email_message)
        if not email_message.recipients():
            return False
        if hasattr(email_message, "envelope"):
            from_email, recipients = email_message.envelope()
        else:
            encoding = email_message.encoding or "utf-8"
            from_email = sanitize_address(email_message.from_email, encoding)
            recipients = [sanitize_address(address, encoding) for address in email_message.recipients()]
        data = email_message.message().as_bytes(linesep="\r\n")
        smtp = self.connection
        if smtp.sock is not None:
            # The final "." goes out as its own tiny packet; without this, Nagle's algorithm holds it
            # back until the server's delayed ACK, some 40 ms per message.
            smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            smtp.ehlo_or_helo_if_needed()
            if smtp.has_extn("pipelining"):
                self._envelope_pipelined(smtp, from_email, recipients)
            else:
                self._envelope(smtp, from_email, recipients)
            # What smtplib.data() does with bytes, unless the message promises no line starts with ".".
            body = data if getattr(email_message, "dot_safe", False) else smtplib._quote_periods(data)
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body)
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
        commands = [f"MAIL FROM:{_angle_address(from_email)}"]
        commands += [f"RCPT TO:{_angle_address(recipient)}" for recipient in recipients]
        commands.append("DATA")
        smtp.sock.sendall(("\r\n".join(commands) + "\r\n").encode("ascii"))
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

    def _abandon(self) -> None:
        """Drop the connection in the middle of DATA: without the final "." the server keeps nothing."""
        try:
            self.connection.close()
        finally:
            self.connection = None
