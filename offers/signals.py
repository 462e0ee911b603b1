"""Signals of the offers app; higher apps (automations) listen, offers imports none of them."""

from django.dispatch import Signal

redemption_recorded = Signal()
"""Sent once per new redemption, after the transaction that stored it committed, with
``redemption`` (a ``Redemption``). A replay of the same report sends nothing. Sent robustly: a
failing receiver is logged and never turns a stored redemption into an error for the shop."""

redemption_stored = Signal()
"""The same, sent inside the transaction that stores the redemption, so that what a receiver writes
(webhooks' message rows) commits or rolls back with it; a receiver that fails fails the report."""
