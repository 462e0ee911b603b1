from collections import Counter
from datetime import timedelta
from email.utils import parseaddr

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Delivery, FrequencyCap
from campaigns.selectors import subscribers_over_frequency_cap
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory, subscribe
from newsletter_site.testing import wait_until
from subscribers.tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def received(subscriber, *, ago=None, status=Delivery.Status.SENT, bypasses=False):
    """A delivery of another campaign: sent ``ago`` before now, or in another status."""
    other = CampaignFactory(status=Campaign.Status.SENT, bypasses_frequency_cap=bypasses)
    return Delivery.objects.create(
        campaign=other,
        subscriber=subscriber,
        status=status,
        sent_at=timezone.now() - ago if ago is not None else None,
    )


def start(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)


def statuses(campaign):
    return dict(campaign.deliveries.values_list("subscriber_id", "status"))


def test_subscribers_at_the_cap_are_skipped_and_the_others_queued(campaign, news, django_capture_on_commit_callbacks):
    FrequencyCap.objects.create(period=FrequencyCap.Period.DAY, max_mails=2)
    fresh, one_today, two_today, one_queued, old = subscribe(news, 5)
    received(one_today, ago=timedelta(hours=3))
    received(two_today, ago=timedelta(hours=1))
    received(two_today, ago=timedelta(hours=20))
    received(one_queued, ago=timedelta(hours=2))
    received(one_queued, status=Delivery.Status.QUEUED)
    received(old, ago=timedelta(hours=30))
    received(old, ago=timedelta(hours=2))
    received(old, status=Delivery.Status.FAILED)
    received(old, status=Delivery.Status.SKIPPED)

    start(campaign, django_capture_on_commit_callbacks)

    S = Delivery.Status
    assert statuses(campaign) == {
        fresh.pk: S.QUEUED,
        one_today.pk: S.QUEUED,
        two_today.pk: S.SKIPPED,
        one_queued.pk: S.SKIPPED,
        old.pk: S.QUEUED,
    }
    skipped = campaign.deliveries.filter(status=S.SKIPPED)
    assert set(skipped.values_list("error", flat=True)) == {"frequency cap"}


def test_skipped_deliveries_never_send_show_in_the_figures_and_do_not_hold_the_campaign_open(
    campaign, news, django_capture_on_commit_callbacks, admin_client, in_english
):
    from django.core import mail

    FrequencyCap.objects.create(period=FrequencyCap.Period.WEEK, max_mails=1)
    capped, *others = subscribe(news, 3)
    received(capped, ago=timedelta(days=2))
    start(campaign, django_capture_on_commit_callbacks)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert sorted(parseaddr(message.to[0])[1] for message in mail.outbox) == sorted(
        subscriber.email for subscriber in others
    )
    progress = admin_client.get(reverse("admin:campaigns_campaign_progress", args=[campaign.pk])).json()
    assert (progress["total"], progress["sent"], progress["skipped"], progress["percent"]) == (3, 2, 1, 100)
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).text
    assert 'data-field="skipped">1<' in page and "skipped (frequency cap)" in page
    analytics = admin_client.get(reverse("tracking:analytics_campaign", args=[campaign.pk])).text
    assert "Skipped (frequency cap)" in analytics


def test_a_campaign_that_bypasses_the_cap_reaches_everyone_and_does_not_count(
    campaign, news, django_capture_on_commit_callbacks
):
    FrequencyCap.objects.create(period=FrequencyCap.Period.DAY, max_mails=1)
    capped, uncapped = subscribe(news, 2)
    received(capped, ago=timedelta(hours=1))
    received(uncapped, ago=timedelta(hours=1), bypasses=True)
    received(uncapped, status=Delivery.Status.QUEUED, bypasses=True)
    announcement = CampaignFactory(mailing_lists=[news], bypasses_frequency_cap=True)
    ArticleFactory(campaign=announcement)

    start(announcement, django_capture_on_commit_callbacks)
    start(campaign, django_capture_on_commit_callbacks)

    assert set(statuses(announcement).values()) == {Delivery.Status.QUEUED}
    assert statuses(campaign) == {capped.pk: Delivery.Status.SKIPPED, uncapped.pk: Delivery.Status.QUEUED}


def test_no_cap_skips_nobody(campaign, news, django_capture_on_commit_callbacks, django_assert_num_queries):
    subscriber = subscribe(news, 1)[0]
    for _mail in range(20):
        received(subscriber, ago=timedelta(minutes=5))
    with django_assert_num_queries(1):
        assert subscribers_over_frequency_cap([subscriber.pk]) == set()
    start(campaign, django_capture_on_commit_callbacks)
    assert statuses(campaign) == {subscriber.pk: Delivery.Status.QUEUED}


@pytest.mark.parametrize(
    ("period", "window"), [(FrequencyCap.Period.DAY, timedelta(days=1)), (FrequencyCap.Period.WEEK, timedelta(days=7))]
)
def test_the_window_is_rolling_and_includes_its_first_moment(period, window):
    FrequencyCap.objects.create(period=period, max_mails=2)
    at_edge, just_outside = SubscriberFactory(), SubscriberFactory()
    now = timezone.now()
    for subscriber, oldest in ((at_edge, window), (just_outside, window + timedelta(microseconds=1))):
        received(subscriber, ago=timedelta(minutes=1))
        Delivery.objects.filter(subscriber=subscriber).update(sent_at=now - timedelta(minutes=1))
        delivery = received(subscriber, ago=oldest)
        Delivery.objects.filter(pk=delivery.pk).update(sent_at=now - oldest)
    assert subscribers_over_frequency_cap([at_edge.pk, just_outside.pk], now=now) == {at_edge.pk}
    assert subscribers_over_frequency_cap([just_outside.pk], now=now + timedelta(minutes=2)) == set()


def test_either_cap_is_enough_and_one_subscriber_costs_two_queries(django_assert_num_queries):
    FrequencyCap.objects.create(period=FrequencyCap.Period.DAY, max_mails=2)
    FrequencyCap.objects.create(period=FrequencyCap.Period.WEEK, max_mails=3)
    daily, weekly, below = SubscriberFactory(), SubscriberFactory(), SubscriberFactory()
    received(daily, ago=timedelta(hours=1))
    received(daily, ago=timedelta(hours=2))
    for days in (2, 3, 4):
        received(weekly, ago=timedelta(days=days))
    received(below, ago=timedelta(hours=1))
    received(below, ago=timedelta(days=3))
    assert subscribers_over_frequency_cap([daily.pk, weekly.pk, below.pk]) == {daily.pk, weekly.pk}
    with django_assert_num_queries(2):
        assert subscribers_over_frequency_cap([below.pk]) == set()


def test_caps_must_be_sensible(in_english):
    FrequencyCap.objects.create(period=FrequencyCap.Period.WEEK, max_mails=3)
    with pytest.raises(ValidationError, match="cannot be higher than the weekly cap"):
        FrequencyCap(period=FrequencyCap.Period.DAY, max_mails=4).full_clean()
    FrequencyCap(period=FrequencyCap.Period.DAY, max_mails=3).full_clean()
    with pytest.raises(ValidationError) as zero:
        FrequencyCap(period=FrequencyCap.Period.DAY, max_mails=0).full_clean()
    assert "max_mails" in zero.value.message_dict
    with pytest.raises(ValidationError) as twice:
        FrequencyCap(period=FrequencyCap.Period.WEEK, max_mails=5).full_clean()
    assert "period" in twice.value.message_dict
    FrequencyCap.objects.create(period=FrequencyCap.Period.DAY, max_mails=2)
    with pytest.raises(ValidationError, match="cannot be lower than the daily cap"):
        FrequencyCap(pk=FrequencyCap.objects.get(period="week").pk, period="week", max_mails=1).full_clean()


def test_staff_set_a_cap_in_the_admin(admin_client, in_english):
    url = reverse("admin:campaigns_frequencycap_add")
    assert admin_client.post(url, {"period": "day", "max_mails": "0"}).status_code == 200
    assert admin_client.post(url, {"period": "day", "max_mails": "2"}).status_code == 302
    assert str(FrequencyCap.objects.get()) == "at most 2 mails per day (rolling 24 hours)"


@pytest.mark.worker
def test_a_real_worker_sends_exactly_the_deliveries_that_were_not_skipped(
    campaign, news, smtp_sink, celery_worker_thread, settings
):
    settings.KANAL_SEND_BATCH_SIZE = 10
    FrequencyCap.objects.create(period=FrequencyCap.Period.DAY, max_mails=1)
    recipients = subscribe(news, 40)
    capped = recipients[::4]
    for subscriber in capped:
        received(subscriber, ago=timedelta(hours=5))
    sending.campaign_start(campaign=campaign)

    def sent():
        campaign.refresh_from_db()
        return campaign.status == Campaign.Status.SENT

    wait_until(sent, timeout=60, interval=0.1, message="the campaign to be sent")
    expected = {subscriber.email: 1 for subscriber in recipients if subscriber not in capped}
    assert Counter(smtp_sink.recipients()) == Counter(expected)
    assert campaign.deliveries.filter(status=Delivery.Status.SKIPPED).count() == len(capped) == 10
