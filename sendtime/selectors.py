"""Reads: readers' time zones, read profiles (their own and their lists'), the campaign's rules."""

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from campaigns.models import Campaign
from sendtime.models import HOURS, WEEKDAYS, CampaignSendTime, ListSendRules, SendTimeProfile
from sendtime.planning import Profile, Rules
from subscribers.models import Subscriber, Subscription

HALF_LIFE = timedelta(days=30)
# Below this (recency-weighted) number of human opens, clicks and answers a reader's own profile
# says too little: the list's profile decides, then the campaign's time.
MIN_PROFILE_WEIGHT = 3.0


@dataclass(frozen=True)
class ReaderZone:
    zone: zoneinfo.ZoneInfo
    # The subscriber's own zone is set but unknown (a zone tzdata no longer has, a typo from an old
    # import): their list's zone, or the site's, stands in.
    fell_back: bool = False


@lru_cache(maxsize=512)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def reader_zones(*, subscribers: QuerySet[Subscriber]) -> dict[int, ReaderZone]:
    """Each subscriber's zone: their own if valid, else that of their first list (by id) that has
    a valid one, else the site's TIME_ZONE."""
    site = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    list_zones: dict[int, zoneinfo.ZoneInfo] = {}
    for subscriber_id, name in (
        Subscription.objects.filter(subscriber__in=subscribers.values("pk"), status=Subscription.Status.ACTIVE)
        .exclude(mailing_list__time_zone="")
        .order_by("subscriber_id", "mailing_list_id")
        .values_list("subscriber_id", "mailing_list__time_zone")
    ):
        zone = _zone(name)
        if zone is not None:
            list_zones.setdefault(subscriber_id, zone)
    zones = {}
    for subscriber_id, name in subscribers.values_list("pk", "time_zone"):
        own = _zone(name)
        fallback = list_zones.get(subscriber_id, site)
        zones[subscriber_id] = ReaderZone(zone=own or fallback, fell_back=bool(name) and own is None)
    return zones


def decayed(weight: float, *, since: datetime, now: datetime) -> float:
    age = (now - since).total_seconds()
    return weight * 0.5 ** (max(age, 0.0) / HALF_LIFE.total_seconds())


def profile_weight(profile: SendTimeProfile, *, now: datetime | None = None) -> float:
    """The profile's total weight as of now (it was stored as of ``updated_at``)."""
    return decayed(profile.total_weight, since=profile.updated_at, now=now or timezone.now())


def usable_profiles(*, subscribers: QuerySet[Subscriber], now: datetime | None = None) -> dict[int, Profile]:
    """The profiles with enough history of these subscribers who (still) allow tracking."""
    now = now or timezone.now()
    profiles = {}
    for row in SendTimeProfile.objects.filter(
        subscriber__in=subscribers.filter(tracking_consent=True).values("pk")
    ).iterator(chunk_size=2000):
        if profile_weight(row, now=now) >= MIN_PROFILE_WEIGHT:
            profiles[row.subscriber_id] = Profile(hours=tuple(row.hour_weights), weekdays=tuple(row.weekday_weights))
    return profiles


def lists_profile(*, mailing_list_ids: list[int], now: datetime | None = None) -> Profile | None:
    """The sum of the (decayed) profiles of the lists' active members who allow tracking, computed
    on demand; None when it says too little."""
    now = now or timezone.now()
    hours, weekdays, total = [0.0] * HOURS, [0.0] * WEEKDAYS, 0.0
    members = Subscriber.objects.filter(
        subscriptions__mailing_list_id__in=mailing_list_ids,
        subscriptions__status=Subscription.Status.ACTIVE,
        status=Subscriber.Status.ACTIVE,
        tracking_consent=True,
    ).values("pk")
    for row in SendTimeProfile.objects.filter(subscriber__in=members).iterator(chunk_size=2000):
        factor = decayed(1.0, since=row.updated_at, now=now)
        for hour, weight in enumerate(row.hour_weights):
            hours[hour] += weight * factor
        for day, weight in enumerate(row.weekday_weights):
            weekdays[day] += weight * factor
        total += row.total_weight * factor
    if total < MIN_PROFILE_WEIGHT:
        return None
    return Profile(hours=tuple(hours), weekdays=tuple(weekdays))


def campaign_rules(*, option: CampaignSendTime, campaign: Campaign) -> Rules:
    """The campaign's quiet hours and weekend rule; none set: those of its first list that has some."""
    source = option
    if not option.has_rules:
        source = (
            ListSendRules.objects.filter(mailing_list__in=campaign.mailing_lists.all())
            .order_by("mailing_list_id")
            .first()
        ) or option
    return Rules(quiet_from=source.quiet_from, quiet_until=source.quiet_until, no_weekend=source.no_weekend)


def profile_summary(profile: SendTimeProfile, *, now: datetime | None = None) -> dict:
    """What the admin page and the GDPR export show of a profile."""
    now = now or timezone.now()
    hours = profile.hour_weights
    weekdays = profile.weekday_weights
    total = profile_weight(profile, now=now)
    return {
        "best_hour": max(range(HOURS), key=lambda hour: hours[hour]) if any(hours) else None,
        "best_weekday": max(range(WEEKDAYS), key=lambda day: weekdays[day]) if any(weekdays) else None,
        "hour_weights": [round(weight, 3) for weight in hours],
        "weekday_weights": [round(weight, 3) for weight in weekdays],
        "total_weight_now": round(total, 3),
        "enough_history": total >= MIN_PROFILE_WEIGHT,
        "updated_at": profile.updated_at.isoformat(),
    }


def subscriber_send_time_export(subscriber: Subscriber) -> tuple[str, object]:
    """GDPR export: the learned read profile (local hours and weekdays, Monday first)."""
    profile = SendTimeProfile.objects.filter(subscriber=subscriber).first()
    return "send_time_profile", profile_summary(profile) if profile is not None else None
