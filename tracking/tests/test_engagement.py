"""The engagement score: recency-weighted share of recent mails opened (40) and clicked (60)."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from tracking.models import SubscriberEngagement, TrackedLink
from tracking.services.consent import subscriber_events_forget
from tracking.services.engagement import engagement_refresh, recency_weight
from tracking.tests.factories import CampaignFactory, DeliveryFactory, SubscriberFactory
from tracking.tests.test_machines import store

pytestmark = pytest.mark.django_db


def sent_campaign(days_ago: float):
    started = timezone.now() - timedelta(days=days_ago)
    return CampaignFactory(status="sent", started_at=started)


def link_of(campaign) -> int:
    link, _created = TrackedLink.objects.get_or_create(
        campaign=campaign,
        article_public_id=uuid.UUID(int=1),
        position=0,
        defaults={"kind": "body", "url": "https://x.org"},
    )
    return link.pk


def received(campaign, subscriber):
    return DeliveryFactory(campaign=campaign, subscriber=subscriber, sent_at=campaign.started_at)


def score_of(subscriber) -> int:
    return SubscriberEngagement.objects.get(subscriber=subscriber).score


@pytest.fixture
def reader():
    return SubscriberFactory(tracking_consent=True)


def test_opening_every_recent_mail_scores_40_and_clicking_in_every_one_100(reader):
    clicker = SubscriberFactory(tracking_consent=True)
    silent = SubscriberFactory(tracking_consent=True)
    for days in (1, 8):
        campaign = sent_campaign(days)
        opened = received(campaign, reader)
        clicked = received(campaign, clicker)
        received(campaign, silent)
        store("o", delivery=opened, at=opened.sent_at + timedelta(hours=1))
        store("o", delivery=opened, at=opened.sent_at + timedelta(hours=2))  # twice: still one mail read
        store("c", delivery=clicked, link=link_of(campaign), at=clicked.sent_at + timedelta(hours=1))

    assert engagement_refresh() == 3

    assert score_of(reader) == 40
    assert score_of(clicker) == 100, "a click without an open still means the mail was read"
    assert score_of(silent) == 0
    assert SubscriberEngagement.objects.get(subscriber=silent).mails_in_window == 2


def test_recent_mails_weigh_more_than_old_ones(reader):
    recent, old = sent_campaign(1), sent_campaign(80)
    received(recent, reader)
    old_delivery = received(old, reader)
    store("o", delivery=old_delivery, at=old_delivery.sent_at + timedelta(hours=1))

    engagement_refresh()

    now = timezone.now()
    weight_recent = recency_weight(sent_at=recent.started_at, now=now)
    weight_old = recency_weight(sent_at=old.started_at, now=now)
    assert score_of(reader) == round(100 * 0.4 * weight_old / (weight_old + weight_recent))
    assert 0 < score_of(reader) < 10


def test_machine_opens_do_not_count(reader):
    delivery = received(sent_campaign(2), reader)
    store("o", delivery=delivery, at=delivery.sent_at + timedelta(hours=1), user_agent="Mozilla/5.0")
    engagement_refresh()
    assert score_of(reader) == 0


def test_mails_older_than_the_window_do_not_count_and_the_score_decays_to_zero(reader, settings):
    settings.KANAL_ENGAGED_DAYS = 30
    campaign = sent_campaign(10)
    delivery = received(campaign, reader)
    store("c", delivery=delivery, link=link_of(campaign), at=delivery.sent_at + timedelta(hours=1))
    engagement_refresh()
    assert score_of(reader) == 100

    engagement_refresh(now=timezone.now() + timedelta(days=25))
    engaged = SubscriberEngagement.objects.get(subscriber=reader)
    assert (engaged.score, engaged.mails_in_window) == (0, 0)
    assert engaged.last_interaction_at is None, "the batcher, not the score, keeps the last interaction"


def test_no_score_without_consent_and_none_at_all_with_individual_tracking_off(reader, settings):
    private = SubscriberFactory(tracking_consent=False)
    campaign = sent_campaign(1)
    received(campaign, reader)
    received(campaign, private)
    engagement_refresh()
    assert list(SubscriberEngagement.objects.values_list("subscriber", flat=True)) == [reader.pk]

    reader.tracking_consent = False
    reader.save()
    engagement_refresh()
    assert not SubscriberEngagement.objects.exists(), "withdrawn consent removes the score"

    reader.tracking_consent = True
    reader.save()
    engagement_refresh()
    settings.KANAL_INDIVIDUAL_TRACKING = False
    assert engagement_refresh() == 0
    assert not SubscriberEngagement.objects.exists()


def test_forgetting_a_subscribers_events_forgets_the_score(reader):
    received(sent_campaign(1), reader)
    engagement_refresh()
    subscriber_events_forget(subscriber_id=reader.pk)
    assert not SubscriberEngagement.objects.exists()


def test_the_hourly_task_is_scheduled():
    from django.conf import settings

    from tracking import tasks

    assert settings.CELERY_BEAT_SCHEDULE["tracking-engagement-refresh"]["task"] == "tracking.tasks.refresh_engagement"
    tasks.refresh_engagement.apply()


def test_the_score_is_part_of_the_gdpr_export(reader):
    from subscribers.services import gdpr

    assert gdpr.subscriber_export(subscriber=reader)["engagement"] is None
    received(sent_campaign(1), reader)
    engagement_refresh()
    assert gdpr.subscriber_export(subscriber=reader)["engagement"]["score"] == 0
