from celery import shared_task


@shared_task
def deliver(delivery_id: int) -> None:
    """One attempt of one delivery (does nothing if it is not due or another worker has it)."""
    from webhooks.services import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)


@shared_task
def requeue_due_deliveries() -> None:
    """Beat: queue deliveries whose task was lost, whose worker died, or whose retry is due."""
    from webhooks.services import deliveries_requeue

    deliveries_requeue()
