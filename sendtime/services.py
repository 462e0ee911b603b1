"""Writes: learning read profiles from human interactions, and giving a campaign's deliveries their due times."""

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Campaign, Delivery
from newsletter_site.bulk import insert_rows, update_rows
from sendtime import selectors
from sendtime.models import CampaignSendTime, SendTimeProfile
from sendtime.planning import Plan, Source
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)

UPDATE_CHUNK = 500


@dataclass(frozen=True)
class Interaction:
    """A person's open, click or answer: when it happened, and how much it counts."""

    subscriber_id: int
    occurred_at: datetime
    weight: float = 1.0


def profiles_record(*, interactions: Iterable[Interaction]) -> int:
    """Add these interactions to their readers' profiles (incrementally: decay what is stored to the
    newest moment, add the new weight), for readers who allow tracking now. Returns how many
    profiles changed. Callers pass human interactions only."""
    by_subscriber: dict[int, list[Interaction]] = defaultdict(list)
    for interaction in interactions:
        by_subscriber[interaction.subscriber_id].append(interaction)
    if not by_subscriber:
        return 0
    with transaction.atomic():
        consenting = Subscriber.objects.filter(pk__in=list(by_subscriber), tracking_consent=True)
        zones = selectors.reader_zones(subscribers=consenting)
        if not zones:
            return 0
        fresh = SendTimeProfile()
        insert_rows(
            SendTimeProfile,
            columns=("subscriber",),
            rows=[(subscriber_id,) for subscriber_id in zones],
            constants={
                "hour_weights": fresh.hour_weights,
                "weekday_weights": fresh.weekday_weights,
                "total_weight": fresh.total_weight,
                "updated_at": fresh.updated_at,
            },
            ignore_conflicts=True,
        )
        profiles = list(
            SendTimeProfile.objects.select_for_update().filter(subscriber_id__in=list(zones)).order_by("pk")
        )
        for profile in profiles:
            zone = zones[profile.subscriber_id].zone
            for interaction in sorted(by_subscriber[profile.subscriber_id], key=lambda item: item.occurred_at):
                _profile_add(profile, local=interaction.occurred_at.astimezone(zone), weight=interaction.weight)
        update_rows(
            SendTimeProfile,
            fields=("hour_weights", "weekday_weights", "total_weight", "updated_at"),
            rows=[
                (profile.pk, profile.hour_weights, profile.weekday_weights, profile.total_weight, profile.updated_at)
                for profile in profiles
            ],
        )
    return len(profiles)


def _profile_add(profile: SendTimeProfile, *, local: datetime, weight: float) -> None:
    if local > profile.updated_at:
        factor = selectors.decayed(1.0, since=profile.updated_at, now=local)
        profile.hour_weights = [value * factor for value in profile.hour_weights]
        profile.weekday_weights = [value * factor for value in profile.weekday_weights]
        profile.total_weight *= factor
        profile.updated_at = local
    else:
        weight = selectors.decayed(weight, since=local, now=profile.updated_at)
    profile.hour_weights[local.hour] += weight
    profile.weekday_weights[local.weekday()] += weight
    profile.total_weight += weight


def subscriber_profile_forget(subscriber: Subscriber) -> None:
    """Tracking consent withdrawn: what was learned from their tracked behaviour goes."""
    SendTimeProfile.objects.filter(subscriber=subscriber).delete()


def campaign_plan(*, option: CampaignSendTime, campaign: Campaign, now: datetime | None = None) -> Plan:
    now = now or timezone.now()
    start = max(option.window_starts_at or now, now)
    end = (option.window_starts_at or start) + timedelta(hours=option.window_hours)
    # A window that ended while the campaign waited (paused checks, a late start) still spans an hour.
    end = max(end, start + timedelta(hours=1))
    Mode = CampaignSendTime.Mode
    return Plan(
        start=start,
        end=end,
        rules=selectors.campaign_rules(option=option, campaign=campaign),
        best_time=option.mode in (Mode.BEST_TIME, Mode.LIST_BEST_TIME),
        use_own_profiles=option.mode == Mode.BEST_TIME,
        local_time=option.local_time,
    )


def campaign_deliveries_schedule(*, campaign: Campaign, now: datetime | None = None) -> None:
    """Give the campaign's queued deliveries that have no due time yet theirs, by its send-time choice
    (registered in ``campaigns.extensions.DELIVERY_SCHEDULERS``; runs in ``campaign_start``'s
    transaction), and add to the choice's counts how each reader's time was decided. Calling it again
    after more deliveries were added schedules only those."""
    option = CampaignSendTime.objects.filter(campaign=campaign).first()
    if option is None or option.mode == CampaignSendTime.Mode.AT_ONCE or campaign.is_automation:
        return
    now = now or timezone.now()
    plan = campaign_plan(option=option, campaign=campaign, now=now)
    queued = Delivery.objects.filter(
        campaign=campaign, status=Delivery.Status.QUEUED, subscriber__isnull=False, due_at__isnull=True
    )
    readers = Subscriber.objects.filter(pk__in=queued.values("subscriber_id"))
    zones = selectors.reader_zones(subscribers=readers)
    own = selectors.usable_profiles(subscribers=readers, now=now) if plan.use_own_profiles else {}
    list_profile = (
        selectors.lists_profile(mailing_list_ids=list(campaign.mailing_lists.values_list("pk", flat=True)), now=now)
        if plan.best_time
        else None
    )
    by_due_at: dict[datetime, list[int]] = defaultdict(list)
    sources = {source: 0 for source in Source}
    for delivery_id, subscriber_id in queued.values_list("pk", "subscriber_id").iterator(chunk_size=2000):
        due_at, source = plan.reader_due_at(
            zone=zones[subscriber_id].zone, own=own.get(subscriber_id), list_profile=list_profile
        )
        by_due_at[due_at].append(delivery_id)
        sources[source] += 1
    for due_at, delivery_ids in by_due_at.items():
        for first in range(0, len(delivery_ids), UPDATE_CHUNK):
            Delivery.objects.filter(pk__in=delivery_ids[first : first + UPDATE_CHUNK]).update(due_at=due_at)
    fallbacks = sum(1 for zone in zones.values() if zone.fell_back)
    CampaignSendTime.objects.filter(pk=option.pk).update(
        scheduled_at=Coalesce(F("scheduled_at"), Value(now)),
        zone_fallbacks=F("zone_fallbacks") + fallbacks,
        own_profiles=F("own_profiles") + sources[Source.OWN_PROFILE],
        list_profiles=F("list_profiles") + sources[Source.LIST_PROFILE],
        campaign_times=F("campaign_times") + sources[Source.CAMPAIGN_TIME],
    )
    if fallbacks:
        logger.info("Campaign %s: %d readers have an unknown time zone", campaign.pk, fallbacks)
