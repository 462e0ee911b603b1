"""Django's SMTP backend with one hook: a callback just before the message is committed at the server.

SMTP accepts a message when the client sends the final "." of DATA. A sender that records
"sent" only after the server's 250 sends the message again if it dies anywhere in the server's
processing and the reply; one that records it right before the "." can only lose it if it dies
in the microseconds between that commit and one write(2). The campaign pipeline records "sent"
in ``before_commit`` (campaigns.services.transports). If the hook raises (say, the worker's
claim on the row was taken back), the connection is dropped without the ".", and the server
discards the unfinished message.
"""

import smtplib
import socket

from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.core.mail.message import sanitize_address


class EmailBackend(DjangoSMTPBackend):
    supports_commit_hook = True

    def _send(self, email_message):
        before_commit = getattr(email_message, "before_commit", None)
        if before_commit is None:
            return super()._send(email_message)
        if not email_message.recipients():
            return False
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
            body = smtplib._quote_periods(data)  # what smtplib.data() does with bytes
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body)
            try:
                before_commit()
            except BaseException:
                self._abandon()
                raise
            smtp.send(b".\r\n")
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

    def _abandon(self) -> None:
        """Drop the connection in the middle of DATA: without the final "." the server keeps nothing."""
        try:
            self.connection.close()
        finally:
            self.connection = None
