"""Heartbeats: a periodic job writes the time it last ran into the shared cache, and the
dashboard calls it stale once two of its beat intervals have passed without one.

No Celery ``control.ping``: a ping needs a reply channel and waits for workers, while a timestamp
that a job writes as part of its work says the whole chain ran (beat queued it, a worker took it).
"""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

_KEY = "kanal:heartbeat:%s"
# A beat is kept far longer than any interval, so a stopped job shows "last seen …", not "never".
_KEEP_SECONDS = 7 * 24 * 3600


def beat(name: str, *, now: datetime | None = None) -> None:
    """Record that ``name`` ran now. Never raises: a missed beat must not break the job it marks."""
    try:
        cache.set(_KEY % name, (now or timezone.now()).timestamp(), _KEEP_SECONDS)
    except Exception:
        # Redis down: the dashboard then shows the beat as stale, rightly.
        logger.warning("Heartbeat %s not recorded", name, exc_info=True)


def last_beat(name: str) -> datetime | None:
    stamp = cache.get(_KEY % name)
    return datetime.fromtimestamp(stamp, tz=UTC) if stamp is not None else None


def beat_interval(schedule_name: str) -> float:
    """The interval of an entry of ``CELERY_BEAT_SCHEDULE`` in seconds."""
    schedule = settings.CELERY_BEAT_SCHEDULE[schedule_name]["schedule"]
    return schedule.total_seconds() if isinstance(schedule, timedelta) else float(schedule)
