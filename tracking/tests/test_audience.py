"""The audience view: engaged, dormant, never engaged, untracked; growth per month; scores."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from subscribers.models import Subscriber, Subscription
from subscribers.tests.factories import MailingListFactory, SubscriptionFactory
from tracking.models import SubscriberEngagement
from tracking.selectors import (
    audience_growth,
    audience_score_distribution,
    audience_segments,
    subscriber_engagement_rows,
)
from tracking.tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def audience(settings):
    settings.KANAL_ENGAGED_DAYS = 90
    now = timezone.now()
    news = MailingListFactory(name="News")

    def member(email, *, consent=True, last=None, score=None, status=Subscriber.Status.ACTIVE):
        subscriber = SubscriberFactory(email=email, tracking_consent=consent, status=status)
        SubscriptionFactory(subscriber=subscriber, mailing_list=news)
        if last is not None or score is not None:
            SubscriberEngagement.objects.create(subscriber=subscriber, last_interaction_at=last, score=score or 0)
        return subscriber

    member("fresh@example.org", last=now - timedelta(days=3), score=85)
    member("recent@example.org", last=now - timedelta(days=89), score=30)
    member("gone@example.org", last=now - timedelta(days=120), score=0)
    member("new@example.org")
    member("scored-never@example.org", score=0)
    member("private@example.org", consent=False)
    member("left@example.org", last=now, status=Subscriber.Status.UNSUBSCRIBED)
    SubscriberFactory(email="elsewhere@example.org", tracking_consent=True)  # on another list only
    SubscriptionFactory(subscriber__email="other@example.org", mailing_list=MailingListFactory())
    return news


def test_active_subscribers_by_segment(audience):
    segments = {segment.key: segment.subscribers for segment in audience_segments()}
    assert segments == {"engaged": 2, "dormant": 1, "never": 3, "untracked": 2}
    on_list = {segment.key: segment.subscribers for segment in audience_segments(mailing_list=audience)}
    assert on_list == {"engaged": 2, "dormant": 1, "never": 2, "untracked": 1}


def test_with_individual_tracking_off_nobody_is_judged(audience, settings):
    settings.KANAL_INDIVIDUAL_TRACKING = False
    segments = {segment.key: segment.subscribers for segment in audience_segments(mailing_list=audience)}
    assert segments == {"engaged": 0, "dormant": 0, "never": 0, "untracked": 6}


def test_score_distribution_of_active_subscribers(audience):
    buckets = {bucket.label: bucket.subscribers for bucket in audience_score_distribution(mailing_list=audience)}
    assert buckets == {"0": 2, "1–19": 0, "20–39": 1, "40–59": 0, "60–79": 0, "80–100": 1}


def test_per_subscriber_rows_name_the_segment_and_hide_what_is_not_known(audience):
    rows = list(subscriber_engagement_rows(mailing_list=audience))
    assert rows[0] == ["email", "segment", "engagement_score", "mails_in_window", "last_interaction_at"]
    by_email = {row[0]: row for row in rows[1:]}
    assert by_email["fresh@example.org"][1:3] == ["engaged", 85]
    assert by_email["gone@example.org"][1] == "dormant"
    assert by_email["new@example.org"][1:] == ["never", "", "", ""]
    assert by_email["private@example.org"][1:] == ["untracked", "", "", ""]
    assert "left@example.org" not in by_email


def test_growth_per_month_with_active_subscriptions_at_each_end(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    zone = timezone.get_current_timezone()
    news = MailingListFactory()
    now = datetime(2026, 3, 15, 12, tzinfo=zone)

    def at(month, day):
        return datetime(2026, month, day, 12, tzinfo=zone)

    def subscription(created, confirmed=None, unsubscribed=None):
        row = SubscriptionFactory(mailing_list=news, confirmed_at=confirmed, unsubscribed_at=unsubscribed)
        Subscription.objects.filter(pk=row.pk).update(created_at=created)

    subscription(datetime(2025, 12, 1, tzinfo=zone), confirmed=datetime(2025, 12, 1, tzinfo=zone))  # before
    subscription(at(1, 5), confirmed=at(1, 6))
    subscription(at(1, 31), confirmed=datetime(2026, 2, 1, 0, 30, tzinfo=zone))  # Berlin's February
    subscription(at(2, 10), confirmed=at(2, 10), unsubscribed=at(3, 1))
    subscription(at(3, 2))  # never confirmed
    subscription(at(3, 3), unsubscribed=at(3, 4))  # left before confirming: no change to the active count

    months = audience_growth(months=3, mailing_list=news, now=now)

    assert [(m.month.month, m.signups, m.confirmations, m.unsubscribes, m.net, m.active_at_end) for m in months] == [
        (1, 2, 1, 0, 1, 2),
        (2, 1, 2, 0, 2, 4),
        (3, 2, 0, 1, -1, 3),
    ]
