"""The seam through which an app above tracking lets its own mails be tracked (transactional mail).

Tracking's tokens, endpoints, event queue, machine labels and batcher serve campaign deliveries;
a *message* is one mail of another app, named in tokens and events by its id. That app registers
one ``MessageSource`` in its ``AppConfig.ready()``; tracking imports none of it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class MessageFacts:
    """What the batcher needs to store an event of one message."""

    sent_at: datetime | None
    # The message went out tracked and its recipient allows individual tracking *now*; without it
    # the event is not stored (nothing but the message could name what it is about).
    trackable: bool


class MessageSource(Protocol):
    def message_facts(self, message_ids: set[int]) -> Mapping[int, MessageFacts]:
        """Facts of the messages that exist; unknown ids are left out."""
        ...

    def message_link_target(self, *, message_id: int, position: int) -> str | None:
        """The stored target of the message's link at ``position`` (from 1), or None. May raise
        DatabaseError."""
        ...

    def message_events_counted(self, *, opened: Mapping[int, datetime], clicked: Mapping[int, datetime]) -> None:
        """Called by the batcher inside its counting transaction with the first human open and
        click per message of one batch (settled, machine events left out)."""
        ...


MESSAGE_SOURCES: list[MessageSource] = []
"""At most one entry; without it message tokens verify but record nothing."""


def message_source() -> MessageSource | None:
    return MESSAGE_SOURCES[0] if MESSAGE_SOURCES else None
