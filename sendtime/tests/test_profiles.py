"""Read profiles learn from people only: the batcher's counted human events and survey answers, of
readers who allow tracking, recency-weighted, incrementally."""

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from sendtime.models import SendTimeProfile
from sendtime.selectors import HALF_LIFE, profile_weight, subscriber_send_time_export
from sendtime.services import Interaction, profiles_record
from subscribers.services import gdpr
from subscribers.tests.factories import withdraw_tracking_consent
from tracking.models import Event
from tracking.services import events as event_services
from tracking.tests.factories import CampaignFactory, DeliveryFactory

pytestmark = pytest.mark.django_db


def count_events(django_capture_on_commit_callbacks, delivery, moments, *, machine=False):
    """Store opens as the tracking endpoints do (a proxy open is labelled a machine there) and run
    the real batcher over them."""
    for index, moment in enumerate(moments):
        Event.objects.create(
            uid=uuid.uuid4(),
            kind=Event.Kind.OPEN,
            campaign_id=delivery.campaign_id,
            delivery=delivery,
            occurred_at=moment,
            ip_hash=f"h{delivery.pk}-{index}",
            user_agent="Mozilla/5.0",
            is_machine=machine,
            machine_reason=Event.MachineReason.PROXY_OPEN if machine else "",
        )
    with django_capture_on_commit_callbacks(execute=True):
        event_services.events_count(cutoff=timezone.now(), limit=1000)


def days_ago(days: float, *, hour: int) -> datetime:
    """That many days ago, at this hour UTC."""
    day = (timezone.now() - timedelta(days=days)).astimezone(UTC).date()
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=UTC)


@pytest.fixture
def delivery(settings):
    settings.TIME_ZONE = "UTC"
    return DeliveryFactory(campaign=CampaignFactory(), subscriber__time_zone="Europe/Berlin")


def test_human_opens_and_clicks_build_the_profile_by_local_hour(delivery, django_capture_on_commit_callbacks):
    moments = [days_ago(days, hour=5) for days in (1, 2, 3)]  # 06:00 in Berlin (winter), 07:00 (summer)
    count_events(django_capture_on_commit_callbacks, delivery, moments)
    count_events(django_capture_on_commit_callbacks, delivery, [days_ago(1, hour=16)])

    profile = SendTimeProfile.objects.get(subscriber=delivery.subscriber)
    berlin_hour = moments[0].astimezone(ZoneInfo("Europe/Berlin")).hour
    assert max(range(24), key=lambda hour: profile.hour_weights[hour]) == berlin_hour
    assert sum(1 for weight in profile.hour_weights if weight > 0) == 2
    assert 3.5 < profile_weight(profile) < 4.0  # four interactions, a few days old
    assert sum(profile.weekday_weights) == pytest.approx(profile.total_weight)


def test_machine_events_never_change_the_profile(delivery, django_capture_on_commit_callbacks):
    count_events(django_capture_on_commit_callbacks, delivery, [days_ago(1, hour=5)] * 3, machine=True)
    assert not SendTimeProfile.objects.filter(subscriber=delivery.subscriber).exists()

    count_events(django_capture_on_commit_callbacks, delivery, [days_ago(1, hour=9)])
    before = SendTimeProfile.objects.get(subscriber=delivery.subscriber)
    count_events(django_capture_on_commit_callbacks, delivery, [days_ago(0.5, hour=3)], machine=True)
    after = SendTimeProfile.objects.get(subscriber=delivery.subscriber)
    assert (after.hour_weights, after.total_weight, after.updated_at) == (
        before.hour_weights,
        before.total_weight,
        before.updated_at,
    )


def test_readers_without_tracking_consent_get_no_profile(delivery, django_capture_on_commit_callbacks):
    delivery.subscriber.tracking_consent = False
    delivery.subscriber.save(update_fields=["tracking_consent"])
    count_events(django_capture_on_commit_callbacks, delivery, [days_ago(1, hour=5)])
    profiles_record(interactions=[Interaction(subscriber_id=delivery.subscriber_id, occurred_at=timezone.now())])
    assert not SendTimeProfile.objects.exists()


def test_withdrawing_tracking_consent_forgets_the_profile_and_stops_learning(
    delivery, django_capture_on_commit_callbacks
):
    subscriber = delivery.subscriber
    count_events(django_capture_on_commit_callbacks, delivery, [days_ago(1, hour=5)])
    assert SendTimeProfile.objects.filter(subscriber=subscriber).exists()

    withdraw_tracking_consent(subscriber)
    assert not SendTimeProfile.objects.filter(subscriber=subscriber).exists()
    profiles_record(interactions=[Interaction(subscriber_id=subscriber.pk, occurred_at=timezone.now())])
    assert not SendTimeProfile.objects.filter(subscriber=subscriber).exists()


def test_older_interactions_count_less_by_the_half_life(delivery):
    now = timezone.now()
    subscriber_id = delivery.subscriber_id
    profiles_record(interactions=[Interaction(subscriber_id=subscriber_id, occurred_at=now - HALF_LIFE)])
    profiles_record(interactions=[Interaction(subscriber_id=subscriber_id, occurred_at=now)])
    profile = SendTimeProfile.objects.get(subscriber_id=subscriber_id)
    assert profile.total_weight == pytest.approx(1.5)
    # Recorded out of order, the result is the same: the older one is decayed on the way in.
    profiles_record(interactions=[Interaction(subscriber_id=subscriber_id, occurred_at=now - 2 * HALF_LIFE)])
    profile.refresh_from_db()
    assert profile.total_weight == pytest.approx(1.75)
    assert profile_weight(profile, now=now + HALF_LIFE) == pytest.approx(0.875)


def test_the_profile_is_in_the_gdpr_export(delivery):
    profiles_record(interactions=[Interaction(subscriber_id=delivery.subscriber_id, occurred_at=timezone.now())])
    key, data = subscriber_send_time_export(delivery.subscriber)
    assert key == "send_time_profile"
    assert data["total_weight_now"] == pytest.approx(1.0, abs=0.01)
    assert len(data["hour_weights"]) == 24 and len(data["weekday_weights"]) == 7
    assert gdpr.subscriber_export(subscriber=delivery.subscriber)["send_time_profile"]["best_hour"] is not None
