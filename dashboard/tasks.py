from celery import shared_task

from newsletter_site import heartbeat

# The name of the workers' heartbeat (newsletter_site.heartbeat) and of its beat schedule entry.
WORKER_HEARTBEAT = "worker"


@shared_task(acks_late=True)
def worker_heartbeat() -> None:
    """Beat queues this every minute; a worker that takes it shows the dashboard that beat and a
    worker on the default queue are running."""
    heartbeat.beat(WORKER_HEARTBEAT)
