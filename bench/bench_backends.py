"""Mail backends for the benchmarks only."""

from anymail.backends.test import EmailBackend as AnymailTestBackend
from django.core import mail


class DiscardingAnymailTestBackend(AnymailTestBackend):
    """Anymail's test backend (the whole Anymail payload path) without keeping 100,000 messages in memory."""

    def send_messages(self, email_messages):
        sent = super().send_messages(email_messages)
        mail.outbox.clear()
        return sent
