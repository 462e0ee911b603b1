"""How many campaign and automation messages were sent and failed for good, counted in Redis.

Each sending batch adds its totals once, when it ends, so the count costs one round trip per
batch and reading it costs one HGETALL whatever the size of the delivery table. The counts start
again from zero when Redis loses its data; Prometheus' ``rate()`` and ``increase()`` take such a
reset as a counter restart.
"""

import logging

import redis
from django.conf import settings

from campaigns import throttle

logger = logging.getLogger(__name__)

KEY = "kanal:campaigns:messages"
FIELDS = ("sent", "failed")


def send_counts_add(*, sent: int, failed: int) -> None:
    """Add a batch's totals. Never raises: the messages are out whatever happens to their count."""
    if not (sent or failed):
        return
    try:
        pipeline = throttle._client(settings.REDIS_URL).pipeline(transaction=False)
        pipeline.hincrby(KEY, "sent", sent)
        pipeline.hincrby(KEY, "failed", failed)
        pipeline.execute()
    except redis.RedisError as error:
        logger.warning("Sent and failed messages not counted: %s", error)


def send_counts() -> dict[str, int]:
    """Messages sent and failed since Redis last lost its data."""
    counts = throttle._client(settings.REDIS_URL).hgetall(KEY)
    return {name: int(counts.get(name.encode(), 0)) for name in FIELDS}
