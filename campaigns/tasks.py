from celery import shared_task


@shared_task(bind=True, acks_late=True)
def send_campaign_batch(self, campaign_id: int) -> None:
    """Send one batch, then queue the next; the delivery rows say what is left, not this task."""
    from campaigns.services import sending

    outcome = sending.delivery_batch_send(campaign_id=campaign_id)
    if outcome.retry_in is not None:
        self.apply_async((campaign_id,), countdown=outcome.retry_in)
    elif outcome.more_to_send:
        self.apply_async((campaign_id,))
    elif outcome.due_in is not None and sending.wake_up_claim(campaign_id=campaign_id, due_in=outcome.due_in):
        self.apply_async((campaign_id,), countdown=outcome.due_in)


@shared_task(acks_late=True)
def sweep_deliveries() -> None:
    from campaigns.services import sending

    sending.deliveries_sweep()


@shared_task(acks_late=True)
def start_due_campaigns() -> None:
    from campaigns.services import sending

    sending.campaigns_start_due()
