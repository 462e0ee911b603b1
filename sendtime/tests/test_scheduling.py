"""A newsletter's deliveries get their due times when it starts: each reader's best hour, the
list's, or the campaign's time, in the reader's zone (their own, else their list's, else the site's)."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.models import Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from sendtime.models import CampaignSendTime, ListSendRules, SendTimeProfile
from sendtime.services import Interaction, profiles_record
from subscribers.models import Subscriber
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def news(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    return MailingListFactory(name="News")


@pytest.fixture
def campaign(news):
    campaign = CampaignFactory(mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    return campaign


def reader(mailing_list, **fields) -> Subscriber:
    return SubscriptionFactory(
        mailing_list=mailing_list, subscriber=SubscriberFactory(tracking_consent=True, **fields)
    ).subscriber


def reads_at(subscriber, *, local_hour: int, zone: ZoneInfo, times: int = 6):
    """Give the reader a history of human interactions at this local hour over the last days."""
    now = timezone.now()
    moments = []
    for days in range(1, times + 1):
        day = (now - timedelta(days=days)).astimezone(zone).date()
        moments.append(datetime(day.year, day.month, day.day, local_hour, 10, tzinfo=zone))
    profiles_record(interactions=[Interaction(subscriber_id=subscriber.pk, occurred_at=moment) for moment in moments])


def start(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        sending.campaign_start(campaign=campaign, warnings_confirmed=True)


def due_local(subscriber, campaign, zone) -> datetime:
    due_at = Delivery.objects.get(campaign=campaign, subscriber=subscriber).due_at
    return due_at.astimezone(zone)


def test_each_reader_gets_the_mail_at_their_own_best_hour_in_their_own_zone(
    campaign, news, django_capture_on_commit_callbacks
):
    early = reader(news)
    late_in_new_york = reader(news, time_zone="America/New_York")
    reads_at(early, local_hour=7, zone=BERLIN)
    reads_at(late_in_new_york, local_hour=20, zone=NEW_YORK)
    CampaignSendTime.objects.create(campaign=campaign, mode=CampaignSendTime.Mode.BEST_TIME, window_hours=24)

    before = timezone.now()
    start(campaign, django_capture_on_commit_callbacks)

    assert due_local(early, campaign, BERLIN).hour == 7
    assert due_local(late_in_new_york, campaign, NEW_YORK).hour == 20
    for subscriber in (early, late_in_new_york):
        due_at = Delivery.objects.get(subscriber=subscriber).due_at
        assert before - timedelta(minutes=1) <= due_at < before + timedelta(hours=24)
    option = CampaignSendTime.objects.get(campaign=campaign)
    assert (option.own_profiles, option.list_profiles, option.campaign_times) == (2, 0, 0)


def test_readers_with_too_little_history_get_the_lists_best_hour_then_the_campaigns_time(
    campaign, news, django_capture_on_commit_callbacks
):
    regulars = [reader(news) for _ in range(3)]
    for subscriber in regulars:
        reads_at(subscriber, local_hour=17, zone=BERLIN)
    newcomer = reader(news)
    reads_at(newcomer, local_hour=6, zone=BERLIN, times=1)  # one open: too little to go by
    CampaignSendTime.objects.create(
        campaign=campaign, mode=CampaignSendTime.Mode.BEST_TIME, window_hours=24, local_time=time(10, 0)
    )
    start(campaign, django_capture_on_commit_callbacks)
    assert due_local(newcomer, campaign, BERLIN).hour == 17

    # Another list whose members have no history at all: the campaign's time, 10:00 local.
    quiet_list = MailingListFactory(name="Quiet")
    stranger = reader(quiet_list)
    other = CampaignFactory(mailing_lists=[quiet_list])
    ArticleFactory(campaign=other)
    CampaignSendTime.objects.create(
        campaign=other, mode=CampaignSendTime.Mode.BEST_TIME, window_hours=24, local_time=time(10, 0)
    )
    start(other, django_capture_on_commit_callbacks)
    local = due_local(stranger, other, BERLIN)
    assert (local.hour, local.minute) == (10, 0)
    option = CampaignSendTime.objects.get(campaign=other)
    assert (option.own_profiles, option.list_profiles, option.campaign_times) == (0, 0, 1)


def test_a_fixed_local_time_uses_the_readers_zone_then_the_lists_then_the_sites(
    campaign, news, django_capture_on_commit_callbacks
):
    in_new_york = reader(news, time_zone="America/New_York")
    site_zone = reader(news)
    broken = reader(news)
    Subscriber.objects.filter(pk=broken.pk).update(time_zone="Mars/Olympus_Mons")
    tokyo_list = MailingListFactory(name="Tokyo", time_zone="Asia/Tokyo")
    in_tokyo = SubscriptionFactory(mailing_list=tokyo_list, subscriber=SubscriberFactory()).subscriber
    campaign.mailing_lists.add(tokyo_list)
    CampaignSendTime.objects.create(campaign=campaign, mode=CampaignSendTime.Mode.LOCAL_TIME, local_time=time(9, 0))

    start(campaign, django_capture_on_commit_callbacks)

    assert due_local(in_new_york, campaign, NEW_YORK).hour == 9
    assert due_local(site_zone, campaign, BERLIN).hour == 9
    assert due_local(broken, campaign, BERLIN).hour == 9
    assert due_local(in_tokyo, campaign, ZoneInfo("Asia/Tokyo")).hour == 9
    assert CampaignSendTime.objects.get(campaign=campaign).zone_fallbacks == 1


def test_the_lists_quiet_hours_and_weekend_rule_apply_when_the_campaign_sets_none(
    campaign, news, django_capture_on_commit_callbacks
):
    night_owl = reader(news)
    reads_at(night_owl, local_hour=23, zone=BERLIN)
    ListSendRules.objects.create(mailing_list=news, quiet_from=time(21, 0), quiet_until=time(8, 0), no_weekend=True)
    CampaignSendTime.objects.create(campaign=campaign, mode=CampaignSendTime.Mode.BEST_TIME, window_hours=48)

    start(campaign, django_capture_on_commit_callbacks)

    local = due_local(night_owl, campaign, BERLIN)
    assert 8 <= local.hour < 21
    assert local.weekday() < 5


def test_without_a_send_time_choice_deliveries_are_due_at_once(campaign, news, django_capture_on_commit_callbacks):
    reads_at(reader(news), local_hour=7, zone=BERLIN)
    start(campaign, django_capture_on_commit_callbacks)
    assert list(Delivery.objects.values_list("due_at", flat=True)) == [None]


def test_a_readers_profile_is_ignored_once_they_withdraw_tracking_consent(
    campaign, news, django_capture_on_commit_callbacks
):
    subscriber = reader(news)
    reads_at(subscriber, local_hour=7, zone=BERLIN)
    Subscriber.objects.filter(pk=subscriber.pk).update(tracking_consent=False)  # e.g. changed by an import
    assert SendTimeProfile.objects.filter(subscriber=subscriber).exists()
    CampaignSendTime.objects.create(
        campaign=campaign, mode=CampaignSendTime.Mode.BEST_TIME, window_hours=24, local_time=time(15, 0)
    )
    start(campaign, django_capture_on_commit_callbacks)
    assert due_local(subscriber, campaign, BERLIN).hour == 15


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"window_hours": 0}, "window_hours"),
        ({"window_hours": 2, "window_starts_at": timezone.now() - timedelta(hours=3)}, "window_starts_at"),
        ({"mode": CampaignSendTime.Mode.LOCAL_TIME}, "local_time"),
        ({"quiet_from": time(21, 0)}, "quiet_until"),
    ],
)
def test_a_send_time_that_cannot_work_is_refused(campaign, fields, error_field):
    option = CampaignSendTime(campaign=campaign, **{"mode": CampaignSendTime.Mode.BEST_TIME, **fields})
    with pytest.raises(ValidationError) as raised:
        option.full_clean()
    assert error_field in raised.value.message_dict


def test_the_campaign_page_shows_the_send_time_and_how_many_readers_fell_back(
    admin_client, campaign, news, django_capture_on_commit_callbacks
):
    broken = reader(news)
    Subscriber.objects.filter(pk=broken.pk).update(time_zone="Nowhere/Atlantis")
    CampaignSendTime.objects.create(campaign=campaign, mode=CampaignSendTime.Mode.LOCAL_TIME, local_time=time(9, 0))
    start(campaign, django_capture_on_commit_callbacks)

    with translation.override("en"):
        response = admin_client.get(
            reverse("admin:campaigns_campaign_change", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE="en"
        )
    html = response.content.decode()
    assert response.status_code == 200
    assert "readers with an unknown time zone: 1" in html
    assert "got the time zone of their list, or the site&#x27;s" in html


def send_time_data(campaign, **fields):
    data = {"campaign": str(campaign.pk), "mode": CampaignSendTime.Mode.BEST_TIME, "window_hours": "6"}
    data.update(fields)
    return data


def test_the_send_time_form_refuses_a_short_or_past_window_and_keeps_a_good_one(admin_client, campaign):
    campaign_page = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    add = reverse("admin:sendtime_campaignsendtime_add")
    with translation.override("en"):
        assert (
            f"{add}?campaign={campaign.pk}"
            in admin_client.get(campaign_page, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        )
        short = admin_client.post(add, send_time_data(campaign, window_hours="0"), HTTP_ACCEPT_LANGUAGE="en")
        past = admin_client.post(
            add,
            send_time_data(campaign, window_starts_at_0="2020-01-01", window_starts_at_1="10:00"),
            HTTP_ACCEPT_LANGUAGE="en",
        )
        assert not CampaignSendTime.objects.exists()
        good = admin_client.post(add, send_time_data(campaign, local_time="09:00"), HTTP_ACCEPT_LANGUAGE="en")
        page = admin_client.get(campaign_page, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert short.status_code == 200 and "greater than or equal to 1" in short.content.decode()
    assert past.status_code == 200 and "This window ended already" in past.content.decode()
    assert good.status_code == 302
    option = CampaignSendTime.objects.get(campaign=campaign)
    assert (option.mode, option.window_hours, option.local_time) == ("best_time", 6, time(9, 0))
    assert "each reader at their best time within the window" in page


def test_the_send_time_of_a_campaign_that_is_sending_can_no_longer_change(
    admin_client, campaign, news, django_capture_on_commit_callbacks
):
    reader(news)
    start(campaign, django_capture_on_commit_callbacks)
    with translation.override("en"):
        response = admin_client.post(
            reverse("admin:sendtime_campaignsendtime_add"), send_time_data(campaign), HTTP_ACCEPT_LANGUAGE="en"
        )
    assert response.status_code == 200 and "can no longer change" in response.content.decode()
    assert not CampaignSendTime.objects.exists()


def test_the_subscribers_page_shows_their_profile_only_with_tracking_consent(admin_client, news):
    subscriber = reader(news)
    reads_at(subscriber, local_hour=7, zone=BERLIN)
    url = reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])
    with translation.override("en"):
        assert "Best hour" in admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        Subscriber.objects.filter(pk=subscriber.pk).update(tracking_consent=False)
        assert "Best hour" not in admin_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_scheduling_again_after_more_deliveries_were_added_schedules_only_those(
    campaign, news, django_capture_on_commit_callbacks
):
    from sendtime.services import campaign_deliveries_schedule

    first = reader(news, time_zone="America/New_York")
    CampaignSendTime.objects.create(campaign=campaign, mode=CampaignSendTime.Mode.LOCAL_TIME, local_time=time(9, 0))
    start(campaign, django_capture_on_commit_callbacks)
    first_due = Delivery.objects.get(subscriber=first).due_at
    Delivery.objects.filter(subscriber=first).update(due_at=first_due + timedelta(minutes=7))  # marks it
    second = reader(news)
    Delivery.objects.create(campaign=campaign, subscriber=second)

    campaign_deliveries_schedule(campaign=campaign)

    assert Delivery.objects.get(subscriber=first).due_at == first_due + timedelta(minutes=7)
    assert due_local(second, campaign, BERLIN).hour == 9
    assert CampaignSendTime.objects.get(campaign=campaign).campaign_times == 2
