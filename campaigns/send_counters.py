"""How many messages were sent and failed for good, per kind of mail, counted in Redis.

Each sending batch (a campaign or automation batch, one transactional mail) adds its totals once,
when it ends, so the count costs one round trip per batch and reading it costs one HGETALL
whatever the size of the delivery tables. The counts start again from zero when Redis loses its
data; Prometheus' ``rate()`` and ``increase()`` take such a reset as a counter restart.
"""

import logging

import redis
from django.conf import settings

from campaigns import throttle

logger = logging.getLogger(__name__)

KEY = "kanal:messages"
KINDS = ("campaign", "transactional")  # campaign: campaign and automation mails
OUTCOMES = ("sent", "failed")


def send_counts_add(*, kind: str, sent: int, failed: int) -> None:
    """Add a batch's totals. Never raises: the messages are out whatever happens to their count."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of mail: {kind!r}")
    if not (sent or failed):
        return
    try:
        pipeline = throttle._client(settings.REDIS_URL).pipeline(transaction=False)
        pipeline.hincrby(KEY, f"{kind}:sent", sent)
        pipeline.hincrby(KEY, f"{kind}:failed", failed)
        pipeline.execute()
    except redis.RedisError as error:
        logger.warning("Sent and failed messages not counted: %s", error)


def send_counts() -> dict[str, dict[str, int]]:
    """Messages sent and failed per kind since Redis last lost its data: ``{kind: {outcome: n}}``."""
    counts = throttle._client(settings.REDIS_URL).hgetall(KEY)
    return {kind: {outcome: int(counts.get(f"{kind}:{outcome}".encode(), 0)) for outcome in OUTCOMES} for kind in KINDS}
