"""Signals of the offers app; higher apps (automations) listen, offers imports none of them."""

from django.dispatch import Signal

redemption_recorded = Signal()
"""Sent once per new redemption, after the transaction that stored it committed, with
``redemption`` (a ``Redemption``). A replay of the same report sends nothing. Sent robustly: a
failing receiver is logged and never turns a stored redemption into an error for the shop."""
