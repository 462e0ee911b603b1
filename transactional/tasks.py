from celery import shared_task


@shared_task(bind=True, acks_late=True)
def send_transactional_message(self, message_id: int) -> None:
    """Send one transactional mail; its row says whether there is anything to do."""
    from transactional.services import transactional_message_send

    outcome = transactional_message_send(message_id=message_id)
    if outcome.retry_in is not None:
        self.apply_async((message_id,), countdown=outcome.retry_in)


@shared_task(acks_late=True)
def sweep_transactional_messages() -> None:
    from transactional.services import transactional_messages_sweep

    transactional_messages_sweep()
