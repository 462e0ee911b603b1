from celery import shared_task


@shared_task
def purge_idempotency_keys() -> None:
    """Beat: forget Idempotency-Keys older than their 24 hours."""
    from api.services import idempotency_keys_purge

    idempotency_keys_purge()
