"""Signals this app sends."""

from django.dispatch import Signal

# Sent with ``campaign`` inside the transaction that marks a newsletter sent (no delivery left
# queued or in flight). Webhooks listen.
campaign_sent = Signal()
