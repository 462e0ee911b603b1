from celery import shared_task


@shared_task
def check_pool(offer_id: int) -> None:
    """After codes were added or used: warn staff if the pool is low (once per crossing)."""
    from offers.services.alerts import pool_low_check

    pool_low_check(offer_id=offer_id)


@shared_task
def check_pools() -> None:
    """Beat: every pool with a threshold, so codes used by any path (sending, redemptions) are seen."""
    from offers import selectors

    for offer_id in selectors.offers_below_threshold_or_warned().values_list("pk", flat=True):
        check_pool.delay(offer_id)
