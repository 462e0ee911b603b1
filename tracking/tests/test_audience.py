"""The audience view: engaged, dormant, never engaged, untracked; growth per month; scores."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from subscribers.models import MailingList, Subscriber, Subscription
from subscribers.tests.factories import MailingListFactory, SubscriptionFactory
from tracking.models import AudienceSummary, SubscriberEngagement
from tracking.selectors import (
    GROWTH_MONTHS,
    audience_figures,
    audience_growth,
    audience_score_distribution,
    audience_segments,
    subscriber_engagement_rows,
    subscription_flow,
)
from tracking.services.audience import audience_summary_refresh
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


# Stored figures: kept by the hourly engagement task ------------------------------------------------


@pytest.fixture
def two_lists(audience):
    """The audience fixture's list, a second one sharing some people, and sign-ups over months."""
    weekly = MailingListFactory(name="Weekly")
    now = timezone.now()
    for subscriber in Subscriber.objects.filter(email__in=["fresh@example.org", "gone@example.org"]):
        SubscriptionFactory(subscriber=subscriber, mailing_list=weekly)
    SubscriptionFactory(
        subscriber=Subscriber.objects.get(email="new@example.org"),
        mailing_list=weekly,
        status=Subscription.Status.UNSUBSCRIBED,
    )
    for months_ago, confirmed, unsubscribed in [
        (2, True, False),
        (5, True, True),
        (14, False, False),
        (30, True, False),
    ]:
        created = now - timedelta(days=30 * months_ago)
        row = SubscriptionFactory(
            subscriber=SubscriberFactory(tracking_consent=True),
            mailing_list=weekly,
            confirmed_at=created + timedelta(days=1) if confirmed else None,
            unsubscribed_at=created + timedelta(days=20) if unsubscribed else None,
        )
        Subscription.objects.filter(pk=row.pk).update(created_at=created)
    return audience, weekly


def live(mailing_list, now):
    return (
        audience_segments(mailing_list=mailing_list, now=now),
        audience_score_distribution(mailing_list=mailing_list),
        audience_growth(months=GROWTH_MONTHS, mailing_list=mailing_list, now=now),
    )


def test_stored_figures_equal_the_live_ones_for_all_lists_and_each_list(two_lists):
    now = timezone.now()
    assert audience_summary_refresh(now=now) == 1 + MailingList.objects.count()
    for mailing_list in [None, *MailingList.objects.all()]:
        figures = audience_figures(mailing_list=mailing_list, months=GROWTH_MONTHS)
        assert figures.stored and figures.as_of == now
        assert (figures.segments, figures.scores, figures.growth) == live(mailing_list, now)
    weekly = audience_figures(mailing_list=two_lists[1], months=GROWTH_MONTHS)
    assert [segment.subscribers for segment in weekly.segments] == [1, 1, 4, 0]
    assert sum(month.signups for month in weekly.growth) == 7


def test_growth_per_month_counts_what_subscription_flow_counts_between_the_same_boundaries(two_lists):
    now = timezone.now()
    months = audience_growth(months=GROWTH_MONTHS, now=now)
    ends = [month.month for month in months[1:]] + [now + timedelta(microseconds=1)]
    for month, end in zip(months, ends, strict=True):
        found = Subscription.objects.aggregate(**subscription_flow(start=month.month, end=end))
        assert (month.signups, month.confirmations, month.unsubscribes) == (
            found["signups"],
            found["confirmations"],
            found["unsubscribes"],
        )
    active = Subscription.objects.filter(confirmed_at__isnull=False, unsubscribed_at__isnull=True).count()
    assert months[-1].active_at_end == active
    assert (
        sum(month.signups for month in months) == Subscription.objects.filter(created_at__gte=months[0].month).count()
    )


def test_the_page_shows_the_last_months_of_the_stored_growth(two_lists):
    now = timezone.now()
    audience_summary_refresh(now=now)
    figures = audience_figures(mailing_list=two_lists[1], months=3)
    assert figures.stored
    assert figures.growth == audience_growth(months=3, mailing_list=two_lists[1], now=now)


def test_without_stored_figures_they_are_computed_now(two_lists):
    figures = audience_figures(mailing_list=two_lists[0])
    assert not figures.stored
    assert (figures.segments, figures.scores) == live(two_lists[0], figures.as_of)[:2]
    assert figures.growth == audience_growth(months=12, mailing_list=two_lists[0], now=figures.as_of)


def test_changes_after_a_run_show_at_the_next_run(two_lists):
    audience_summary_refresh()
    SubscriptionFactory(subscriber=SubscriberFactory(tracking_consent=False), mailing_list=two_lists[0])
    untracked = {segment.key: segment.subscribers for segment in audience_figures(mailing_list=two_lists[0]).segments}
    assert untracked["untracked"] == 1
    audience_summary_refresh()
    untracked = {segment.key: segment.subscribers for segment in audience_figures(mailing_list=two_lists[0]).segments}
    assert untracked["untracked"] == 2


def test_a_list_created_after_the_run_and_other_settings_get_figures_computed_now(two_lists, settings):
    audience_summary_refresh()
    later = MailingListFactory(name="Later")
    SubscriptionFactory(subscriber=SubscriberFactory(tracking_consent=False), mailing_list=later)
    figures = audience_figures(mailing_list=later)
    assert not figures.stored and [segment.subscribers for segment in figures.segments] == [0, 0, 0, 1]
    assert audience_figures().stored
    settings.KANAL_INDIVIDUAL_TRACKING = False
    figures = audience_figures(mailing_list=two_lists[0])
    assert not figures.stored and [segment.subscribers for segment in figures.segments] == [0, 0, 0, 6]
    settings.KANAL_INDIVIDUAL_TRACKING = True
    settings.KANAL_ENGAGED_DAYS = 30
    figures = audience_figures(mailing_list=two_lists[0])
    assert not figures.stored and figures.segments == audience_segments(mailing_list=two_lists[0])


def test_the_hourly_engagement_task_stores_the_figures_from_the_new_scores(two_lists):
    from tracking.tasks import refresh_engagement

    # A score the task does not keep: nobody got mail in the window, so every score becomes 0.
    SubscriberEngagement.objects.filter(subscriber__email="fresh@example.org").update(score=85)
    refresh_engagement()
    assert AudienceSummary.objects.count() == 1 + MailingList.objects.count()
    figures = audience_figures()
    assert figures.stored
    assert {bucket.label: bucket.subscribers for bucket in figures.scores}["80–100"] == 0
    assert (figures.segments, figures.scores) == live(None, figures.as_of)[:2]


@pytest.mark.django_db(transaction=True)
def test_a_run_that_cannot_store_keeps_the_previous_figures(monkeypatch):
    from tracking.services import audience as service

    news = MailingListFactory(name="News")
    SubscriptionFactory(subscriber=SubscriberFactory(tracking_consent=False), mailing_list=news)
    first = timezone.now() - timedelta(hours=1)
    assert audience_summary_refresh(now=first) == 2
    computed = service.audience_figures_compute(now=timezone.now())
    news.delete()  # between computing and storing
    monkeypatch.setattr(service, "audience_figures_compute", lambda now: computed)

    assert audience_summary_refresh() == 0

    figures = audience_figures()
    assert figures.stored and figures.as_of == first
    assert [segment.subscribers for segment in figures.segments] == [0, 0, 0, 1]
