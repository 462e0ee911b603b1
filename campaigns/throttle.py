"""One sending rate for all workers on all machines, counted in Redis per second."""

import time
from functools import cache

import redis
from django.conf import settings


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def wait_for_slot(*, key: str = "send") -> None:
    """Block until this message fits into KANAL_SEND_RATE_PER_SECOND (0 means no limit)."""
    rate = settings.KANAL_SEND_RATE_PER_SECOND
    if not rate:
        return
    client = _client()
    while True:
        now = time.time()
        window = int(now)
        counter = f"kanal:rate:{key}:{window}"
        pipeline = client.pipeline()
        pipeline.incr(counter)
        pipeline.expire(counter, 5)
        taken, _ = pipeline.execute()
        if taken <= rate:
            return
        time.sleep(window + 1 - now)
