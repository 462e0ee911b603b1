"""Signals this app sends. Automations listen (automations.signals)."""

from django.dispatch import Signal

# Sent after a subscriber's answers are stored and committed, with ``subscriber_id`` and
# ``answer_ids`` (the answers that call stored). Only stored answers: a GET of a mail link, or a
# POST that looks like a machine, stores nothing and sends nothing.
answers_recorded = Signal()

# Sent after a subscriber's "was this useful?" is stored and committed, with ``feedback``.
article_feedback_recorded = Signal()
