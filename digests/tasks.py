from celery import shared_task


@shared_task
def fetch_due_sources() -> None:
    """Beat: claim the feed sources whose scheduled time came and fetch each in its own task."""
    from digests import services

    for source_id in services.sources_claim_due():
        fetch_source.delay(source_id)


@shared_task
def fetch_source(source_id: int) -> None:
    """Fetch one source's feed and make its digest (safe to run twice: see digests.services)."""
    from digests import services

    services.feed_source_fetch(source_id=source_id)
