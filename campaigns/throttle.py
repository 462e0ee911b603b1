"""One sending rate for all workers on all machines, counted in Redis per second."""

import logging
import time
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

FIRST_PAUSE = 0.05
LONGEST_PAUSE = 1.0


class RateLimiterUnavailable(Exception):
    """Redis stayed unreachable for longer than a batch may wait; the batch hands its rows back."""


@cache
def _client(url: str) -> redis.Redis:
    # A Redis host that vanished without closing the connection fails a command after 5 s instead of never.
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def patience() -> float:
    """How long a batch waits for Redis: a quarter of KANAL_SEND_STALE_SECONDS.

    Meanwhile the batch renews no claim (campaigns.services.transports.ledger renews it every
    quarter of that time, between messages), so its rows are still far from looking abandoned
    to the sweeper when it gives up and hands them back.
    """
    return settings.KANAL_SEND_STALE_SECONDS / 4


def wait_for_slot(*, key: str = "send") -> None:
    """Block until this message fits into KANAL_SEND_RATE_PER_SECOND (0 means no limit).

    While Redis is down or restarting, wait and try again (50 ms, doubling up to 1 s) rather
    than send unmetered; raise ``RateLimiterUnavailable`` after ``patience()`` seconds.
    """
    rate = settings.KANAL_SEND_RATE_PER_SECOND
    if not rate:
        return
    client = _client(settings.REDIS_URL)
    outage_since = None
    pause = FIRST_PAUSE
    while True:
        now = time.time()
        window = int(now)
        counter = f"kanal:rate:{key}:{window}"
        try:
            pipeline = client.pipeline()
            pipeline.incr(counter)
            pipeline.expire(counter, 5)
            taken, _ = pipeline.execute()
        # ConnectionError includes BusyLoadingError: a restarted Redis reading its append-only file.
        except (redis.ConnectionError, redis.TimeoutError) as error:
            if outage_since is None:
                outage_since = time.monotonic()
                logger.warning("Send rate limiter: Redis unavailable (%s); waiting for it", error)
            if time.monotonic() - outage_since > patience():
                raise RateLimiterUnavailable(str(error)) from error
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
            continue
        if outage_since is not None:
            logger.warning("Send rate limiter: Redis answers again after %.1f s", time.monotonic() - outage_since)
            outage_since, pause = None, FIRST_PAUSE
        if taken <= rate:
            return
        time.sleep(window + 1 - now)
