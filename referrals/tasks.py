from celery import shared_task


@shared_task
def retry_pending_rewards() -> None:
    """Beat: try every pending milestone reward again (e.g. codes were added to an empty pool)."""
    from referrals import selectors

    for reward_id in selectors.pending_reward_ids():
        retry_reward.delay(reward_id)


@shared_task
def retry_reward(reward_id: int) -> None:
    from referrals.services import reward_retry

    reward_retry(reward_id=reward_id)
