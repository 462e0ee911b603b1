"""Signals this app sends. Automations and send time listen to the ``*_recorded`` ones, webhooks to
the ``*_stored`` ones."""

from django.dispatch import Signal

# Sent after a subscriber's answers are stored and committed, with ``subscriber_id`` and
# ``answer_ids`` (the answers that call stored). Only stored answers: a GET of a mail link, or a
# POST that looks like a machine, stores nothing and sends nothing.
answers_recorded = Signal()

# Sent after a subscriber's "was this useful?" is stored and committed, with ``feedback``.
article_feedback_recorded = Signal()

# The same two, sent inside the transaction that stores the answers or the feedback, so that what a
# receiver writes commits or rolls back with them: webhooks' message rows, which must not be lost
# to a crash between the commit and an after-commit signal.
answers_stored = Signal()
article_feedback_stored = Signal()
