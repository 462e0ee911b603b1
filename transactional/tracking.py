"""Transactional mail as a message source of the tracking app (``tracking.extensions``)."""

from transactional import selectors, services


class TransactionalTracking:
    """What the tracking endpoints and batcher ask about transactional messages."""

    def message_facts(self, message_ids):
        return selectors.message_tracking_facts(message_ids=message_ids)

    def message_link_target(self, *, message_id: int, position: int) -> str | None:
        return selectors.message_link_target(message_id=message_id, position=position)

    def message_events_counted(self, *, opened, clicked) -> None:
        services.transactional_message_reads_record(opened=opened, clicked=clicked)


transactional_tracking = TransactionalTracking()
