from celery import shared_task

from newsletter_site import heartbeat

# The name of the batcher's heartbeat (newsletter_site.heartbeat), read by the dashboard.
BATCHER_HEARTBEAT = "tracking-batcher"


@shared_task(acks_late=True)
def process_events() -> None:
    """Beat runs this every few seconds: move events from Redis into the database and count them.
    Idempotent by database state; a run that dies leaves its chunk in Redis for the next one."""
    from tracking.services import events

    events.events_process()
    # After the run: a batcher that fails every time is not "running" (the dashboard warns).
    heartbeat.beat(BATCHER_HEARTBEAT)


@shared_task(acks_late=True)
def refresh_engagement() -> None:
    """Beat runs this hourly: recompute every subscriber's engagement score (it decays with time),
    then the audience page's figures from those scores."""
    from tracking.services import audience, engagement

    engagement.engagement_refresh()
    audience.audience_summary_refresh()


@shared_task(acks_late=True)
def expire_events() -> None:
    """Beat runs this daily: delete counted events past KANAL_EVENT_RETENTION_DAYS (whole month
    partitions on PostgreSQL, the rest in batches)."""
    from tracking.services import retention

    retention.events_expire()


@shared_task(acks_late=True)
def ensure_event_partitions() -> None:
    """Beat runs this daily: the events table's month partitions exist months ahead (PostgreSQL)."""
    from tracking.services import retention

    retention.event_partitions_ensure()
