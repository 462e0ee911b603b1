"""Signals this app sends."""

from django.dispatch import Signal

# Sent with ``referrer`` (Subscriber), ``milestone`` and ``reward`` (the MilestoneReward row) inside
# the transaction that credits the referral, once per referrer and milestone. Automations listen.
milestone_reached = Signal()
