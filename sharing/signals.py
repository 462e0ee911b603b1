"""Signals of the sharing app; higher apps (automations) listen, sharing imports none of them."""

from django.dispatch import Signal

campaign_shared = Signal()
"""Sent once per forward or share a person made, after the transaction that stored it committed,
with ``event`` (a ``SharingEvent``), and only when the event names its subscriber (tracking
consent) and no machine rule labelled it. Sent robustly: a failing receiver is logged and never
turns a forward or share into an error for the reader."""
