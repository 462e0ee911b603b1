from celery import shared_task


@shared_task
def deliver_endpoint(endpoint_id: int) -> None:
    """Send an endpoint's due deliveries (does nothing when none is due or another worker has them)."""
    from webhooks.services import endpoint_deliver

    endpoint_deliver(endpoint_id=endpoint_id)


@shared_task
def deliver(delivery_id: int) -> None:
    """The task of one delivery, queued before deliveries were sent per endpoint: sends its
    endpoint's due deliveries."""
    from webhooks.models import Delivery
    from webhooks.services import endpoint_deliver

    endpoint_id = Delivery.objects.filter(pk=delivery_id).values_list("endpoint_id", flat=True).first()
    if endpoint_id is not None:
        endpoint_deliver(endpoint_id=endpoint_id)


@shared_task
def requeue_due_deliveries() -> None:
    """Beat: queue the endpoints whose task was lost, whose worker died, or whose retry is due."""
    from webhooks.services import deliveries_requeue

    deliveries_requeue()


@shared_task
def expire_messages() -> None:
    """Beat: finished messages older than KANAL_WEBHOOK_LOG_DAYS leave the log."""
    from webhooks.services import messages_expire

    messages_expire()
