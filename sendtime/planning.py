"""Due times as pure functions of a plan, a reader's time zone and read profile; no database.

Every moment is an aware UTC datetime; local wall-clock times are built in the reader's zone with
``fold=0`` and converted at once, so a time in the spring gap comes as late as the gap is long
(02:30 becomes 03:30) and one in the autumn fold is taken the first time it occurs.
"""

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Rules:
    """Quiet hours (may wrap midnight, e.g. 21:00–08:00) and no weekend, in local time."""

    quiet_from: time | None = None
    quiet_until: time | None = None
    no_weekend: bool = False

    def allows(self, local: datetime) -> bool:
        if self.no_weekend and local.weekday() >= 5:
            return False
        if self.quiet_from is None or self.quiet_until is None:
            return True
        wall = local.time()
        if self.quiet_from < self.quiet_until:
            return not (self.quiet_from <= wall < self.quiet_until)
        return not (wall >= self.quiet_from or wall < self.quiet_until)


@dataclass(frozen=True)
class Profile:
    """Weights by local hour (24) and weekday (7, Monday first)."""

    hours: tuple[float, ...]
    weekdays: tuple[float, ...]

    def score(self, local: datetime) -> float:
        weekday_total = sum(self.weekdays)
        if weekday_total <= 0:
            return self.hours[local.hour]
        mean = weekday_total / 7
        # A weekday nobody read on still counts half: a few weeks of history say little about days.
        return self.hours[local.hour] * (self.weekdays[local.weekday()] + mean) / (2 * mean)


class Source(enum.Enum):
    OWN_PROFILE = "own"
    LIST_PROFILE = "list"
    CAMPAIGN_TIME = "campaign"


@dataclass(frozen=True)
class Plan:
    """One campaign's send-time choice. ``local_time`` is the fixed time (``best_time`` False), or the
    campaign's time for readers without a usable profile (None: the window's start)."""

    start: datetime
    end: datetime
    rules: Rules = Rules()
    best_time: bool = True
    use_own_profiles: bool = True
    local_time: time | None = None

    def reader_due_at(
        self, *, zone: ZoneInfo, own: Profile | None, list_profile: Profile | None
    ) -> tuple[datetime, Source]:
        """When this reader's delivery is due, and what decided it."""
        if self.best_time:
            for source, profile in ((Source.OWN_PROFILE, own), (Source.LIST_PROFILE, list_profile)):
                if profile is None or (source is Source.OWN_PROFILE and not self.use_own_profiles):
                    continue
                moment = best_moment(self.start, self.end, zone=zone, profile=profile, rules=self.rules)
                if moment is not None:
                    return moment, source
        if self.local_time is None:
            return next_allowed(self.start, zone=zone, rules=self.rules), Source.CAMPAIGN_TIME
        return next_local_time(self.start, self.local_time, zone=zone, rules=self.rules), Source.CAMPAIGN_TIME


def local_moment(day: date, wall: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def next_allowed(moment: datetime, *, zone: ZoneInfo, rules: Rules) -> datetime:
    """``moment``, or the first moment after it that the rules allow."""
    for _step in range(8):
        local = moment.astimezone(zone)
        if rules.allows(local):
            return moment
        if rules.no_weekend and local.weekday() >= 5:
            later = local_moment(local.date() + timedelta(days=7 - local.weekday()), time(0, 0), zone)
        else:
            day = local.date()
            if rules.quiet_from > rules.quiet_until and local.time() >= rules.quiet_from:
                day += timedelta(days=1)
            later = local_moment(day, rules.quiet_until, zone)
        # Inside the autumn fold the first occurrence of the end time may lie behind: take the second.
        moment = later if later > moment else later + HOUR
    return moment


def next_local_time(start: datetime, wall: time, *, zone: ZoneInfo, rules: Rules) -> datetime:
    """The first moment at or after ``start`` that shows ``wall`` in ``zone`` (then the rules)."""
    day = start.astimezone(zone).date()
    moment = local_moment(day, wall, zone)
    if moment < start:
        moment = local_moment(day + timedelta(days=1), wall, zone)
    return next_allowed(moment, zone=zone, rules=rules)


def hour_starts(start: datetime, end: datetime, *, zone: ZoneInfo) -> list[datetime]:
    """The window's start and each full local hour after it, before its end."""
    moments = {start}
    utc_hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while utc_hour < end + HOUR:
        # Zones a half or quarter hour off UTC start their hours off the UTC hour.
        candidate = utc_hour - timedelta(minutes=utc_hour.astimezone(zone).minute)
        if start < candidate < end:
            moments.add(candidate)
        utc_hour += HOUR
    return sorted(moments)


def best_moment(start: datetime, end: datetime, *, zone: ZoneInfo, profile: Profile, rules: Rules) -> datetime | None:
    """The start of the local hour in the window with the highest weight that the rules allow (the
    earliest of equals); None when no allowed hour has any weight."""
    best, best_score = None, 0.0
    for moment in hour_starts(start, end, zone=zone):
        local = moment.astimezone(zone)
        if not rules.allows(local):
            continue
        score = profile.score(local)
        if score > best_score:
            best, best_score = moment, score
    return best
