"""The dashboard with real data: a campaign that went out, opened and clicked by people and by
machines, answered, reported on by the ESP; subscriptions; pools; heartbeats."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from automations.models import Automation
from campaigns.models import Campaign, Delivery
from dashboard import selectors, tasks
from newsletter_site import heartbeat
from newsletter_site.testing import staff_login
from offers.models import Offer
from offers.tests.factories import CouponFactory, OfferFactory
from subscribers.models import Subscriber, Subscription
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from surveys.models import Question
from surveys.services import response_submit
from surveys.tests.factories import QuestionFactory, SurveyFactory
from tracking import tasks as tracking_tasks
from tracking.services.reports import delivery_report_record
from tracking.tests.conftest import BROWSER, hit, process, urls_for
from tracking.tests.conftest import campaign as tracked_campaign  # noqa: F401 (a fixture)
from tracking.tests.factories import CampaignFactory, DeliveryFactory

pytestmark = pytest.mark.django_db

APPLE_PROXY = "Mozilla/5.0"  # Apple Mail Privacy Protection: a machine open
SCANNER = "Mimecast-Link-Scanner/1.0"  # a machine click


def _beat_all():
    """Both heartbeats fresh, so a test sees only the warnings it makes."""
    tasks.worker_heartbeat()
    heartbeat.beat(tracking_tasks.BATCHER_HEARTBEAT)


def _text(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def _row(html: str, campaign) -> str:
    match = re.search(rf'<tr data-campaign="{campaign.pk}">(.*?)</tr>', html, re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def test_only_people_count_in_the_last_campaigns_rates(client, admin_client, tracked_campaign, in_english):  # noqa: F811
    campaign = tracked_campaign.campaign
    Campaign.objects.filter(pk=campaign.pk).update(started_at=timezone.now() - timedelta(hours=1))
    human, proxied, _unread, _silent = (DeliveryFactory(campaign=campaign) for _index in range(4))
    # A person opens and clicks; Apple's proxy opens another mail and a scanner clicks in it.
    pixel, clicks = urls_for(tracked_campaign, human)
    hit(client, pixel, user_agent=BROWSER)
    hit(client, clicks[0], user_agent=BROWSER)
    pixel, clicks = urls_for(tracked_campaign, proxied)
    hit(client, pixel, user_agent=APPLE_PROXY)
    hit(client, clicks[0], user_agent=SCANNER)
    process()
    survey = SurveyFactory(campaign=campaign)
    question = QuestionFactory(survey=survey, kind=Question.Kind.NPS)
    response_submit(survey=survey, answers={question.pk: 9}, subscriber=human.subscriber, source="mail")

    [row] = selectors.recent_campaigns()
    assert (row.delivered, row.open_rate, row.click_rate, row.answer_rate) == (4, 0.25, 0.25, 0.25)
    page = admin_client.get(reverse("dashboard:dashboard"))
    row_text = _row(page.content.decode(), campaign)
    assert row_text.startswith(campaign.name) and row_text.endswith(" 4 25.0 % 25.0 % 25.0 %"), row_text


def test_a_send_in_progress_shows_its_progress_and_polls_the_campaign_endpoint(admin_client, in_english):
    campaign = CampaignFactory(name="Adventsbrief", status=Campaign.Status.SENDING, started_at=timezone.now())
    DeliveryFactory.create_batch(3, campaign=campaign)
    DeliveryFactory(campaign=campaign, status=Delivery.Status.QUEUED, sent_at=None)
    html = admin_client.get(reverse("dashboard:dashboard")).content.decode()
    progress_url = reverse("admin:campaigns_campaign_progress", args=[campaign.pk])
    assert f'data-progress-url="{progress_url}"' in html
    assert '<progress max="100" value="75"' in html
    assert admin_client.get(progress_url).json()["percent"] == 75


def test_nothing_sending_and_no_campaign_yet(admin_client, in_english):
    text = _text(admin_client.get(reverse("dashboard:dashboard")))
    assert "Nothing is sending right now." in text
    assert "No campaign has gone out yet." in text


def test_list_growth_counts_the_last_thirty_days():
    now = timezone.now()
    news = MailingListFactory()
    for confirmed, unsubscribed in [(1, None), (2, None), (3, 1), (40, None), (40, 2), (None, None)]:
        SubscriptionFactory(
            mailing_list=news,
            confirmed_at=now - timedelta(days=confirmed) if confirmed else None,
            unsubscribed_at=now - timedelta(days=unsubscribed) if unsubscribed else None,
        )
    Subscription.objects.filter(confirmed_at__lt=now - timedelta(days=30)).update(created_at=now - timedelta(days=41))
    growth = selectors.list_growth()
    assert (growth.signups, growth.confirmations, growth.unsubscribes, growth.net, growth.active) == (4, 3, 2, 1, 3)


def test_the_nps_trend_shows_campaign_surveys_with_nps_answers_oldest_first(admin_client):
    for name, scores in [("Frühling", [10, 10, 3]), ("Sommer", [9, 10]), ("Ohne NPS", [])]:
        campaign = CampaignFactory(name=name)
        survey = SurveyFactory(campaign=campaign)
        question = QuestionFactory(survey=survey, kind=Question.Kind.NPS if scores else Question.Kind.RATING)
        for score in scores:
            response_submit(survey=survey, answers={question.pk: score}, subscriber=SubscriberFactory(), source="mail")
    assert [(row["campaign"].name, row["nps"]) for row in selectors.nps_trend()] == [("Frühling", 33), ("Sommer", 100)]
    html = admin_client.get(reverse("dashboard:dashboard")).content.decode()
    assert re.findall(r'data-nps="(-?\d+)"', html) == ["33", "100"]


def test_running_automations_and_offers_are_counted_and_linked(admin_client):
    Automation.objects.create(name="Willkommen", status=Automation.Status.ACTIVE)
    Automation.objects.create(name="Entwurf")
    OfferFactory()
    OfferFactory(expires_at=timezone.now() - timedelta(days=1))
    html = admin_client.get(reverse("dashboard:dashboard")).content.decode()
    assert re.search(r'data-figure="automations">1<', html)
    assert re.search(r'data-figure="offers">1<', html)
    assert reverse("admin:automations_automation_changelist") in html


def test_sections_of_other_apps_show_only_to_staff_who_may_view_them(client):
    Automation.objects.create(name="Willkommen", status=Automation.Status.ACTIVE)
    low = OfferFactory(name="Leerer Topf", code_source=Offer.CodeSource.POOL, low_pool_threshold=10)
    CouponFactory(offer=low)
    staff_login(client, "campaigns.view_campaign")
    html = client.get(reverse("dashboard:dashboard")).content.decode()
    assert 'id="dashboard-running"' not in html and "Leerer Topf" not in html


def _sent(count: int):
    """A campaign sent to ``count`` people yesterday."""
    campaign = CampaignFactory(status=Campaign.Status.SENT, started_at=timezone.now() - timedelta(days=1))
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=f"leser{index}@example.org") for index in range(count)
    )
    Delivery.objects.bulk_create(
        Delivery(
            campaign=campaign,
            subscriber=subscriber,
            status=Delivery.Status.SENT,
            sent_at=timezone.now() - timedelta(days=1),
        )
        for subscriber in subscribers
    )
    return list(Delivery.objects.filter(campaign=campaign).order_by("pk"))


def _report(deliveries, event_type: str):
    for delivery in deliveries:
        delivery_report_record(
            esp_name="test",
            event_id=f"{event_type}-{delivery.pk}",
            event_type=event_type,
            metadata={"delivery_id": delivery.pk},
        )


def _levels(substring: str) -> list[str]:
    return [alert.level for alert in selectors.dashboard_warnings(may_view_offers=True) if substring in alert.message]


@pytest.mark.parametrize(
    ("complaints", "levels"), [(0, []), (1, []), (2, ["warning"]), (3, ["warning"]), (4, ["error"])]
)
def test_complaint_rate_warns_above_a_tenth_and_alarms_above_three_tenths_of_a_percent(complaints, levels, in_english):
    _beat_all()
    deliveries = _sent(1000)
    _report(deliveries[:complaints], "complained")
    assert _levels("Spam complaint rate") == levels


@pytest.mark.parametrize(("bounces", "levels"), [(20, []), (21, ["warning"])])
def test_bounce_rate_warns_above_two_percent(bounces, levels, in_english):
    _beat_all()
    deliveries = _sent(1000)
    _report(deliveries[:bounces], "bounced")
    assert _levels("Bounce rate") == levels
    assert _levels("Spam complaint rate") == []


def test_reports_of_mails_sent_long_ago_do_not_count(in_english):
    _beat_all()
    deliveries = _sent(100)
    _report(deliveries[:10], "complained")
    Delivery.objects.update(sent_at=timezone.now() - timedelta(days=31))
    assert _levels("Spam complaint rate") == []


def test_the_warning_names_the_rate_in_the_readers_number_format(admin_client, in_english):
    _beat_all()
    _report(_sent(1000)[:4], "complained")
    text = _text(admin_client.get(reverse("dashboard:dashboard")))
    assert "Spam complaint rate 0.40 % in the last 30 days (4 of 1000 delivered)" in text


def test_a_pool_running_low_is_a_warning_with_a_link_to_the_offer(admin_client, in_english):
    _beat_all()
    low = OfferFactory(name="Leerer Topf", code_source=Offer.CodeSource.POOL, low_pool_threshold=10)
    CouponFactory.create_batch(9, offer=low)
    full = OfferFactory(name="Voller Topf", code_source=Offer.CodeSource.POOL, low_pool_threshold=10)
    CouponFactory.create_batch(10, offer=full)
    alerts = selectors.dashboard_warnings(may_view_offers=True)
    assert [(alert.message, alert.url) for alert in alerts] == [
        (
            "The code pool of the offer “Leerer Topf” is running low: 9 codes left.",
            reverse("admin:offers_offer_change", args=[low.pk]),
        )
    ]


def test_no_heartbeat_means_worker_and_batcher_are_reported_not_running(in_english):
    messages = [alert.message for alert in selectors.dashboard_warnings(may_view_offers=True)]
    assert messages == [str(selectors.HEARTBEAT_LABELS[name]) for name in selectors.HEARTBEATS]


def test_the_batcher_run_and_the_heartbeat_task_keep_the_warnings_away(in_english):
    tracking_tasks.process_events()
    assert [a.message for a in selectors.dashboard_warnings(may_view_offers=True)] == [
        str(selectors.HEARTBEAT_LABELS[tasks.WORKER_HEARTBEAT])
    ]
    tasks.worker_heartbeat()
    assert selectors.dashboard_warnings(may_view_offers=True) == []


def test_a_heartbeat_goes_stale_after_two_intervals(settings, in_english):
    _beat_all()
    interval = heartbeat.beat_interval("dashboard-worker-heartbeat")
    heartbeat.beat(tasks.WORKER_HEARTBEAT, now=timezone.now() - timedelta(seconds=2 * interval - 5))
    assert selectors.dashboard_warnings(may_view_offers=True) == []
    heartbeat.beat(tasks.WORKER_HEARTBEAT, now=timezone.now() - timedelta(seconds=2 * interval + 5))
    [alert] = selectors.dashboard_warnings(may_view_offers=True)
    assert alert.message.startswith(str(selectors.HEARTBEAT_LABELS[tasks.WORKER_HEARTBEAT]) + " Last seen ")


def test_a_real_worker_running_the_beat_task_writes_the_heartbeat(celery_worker_thread, in_english):
    tasks.worker_heartbeat.delay()
    deadline = timezone.now() + timedelta(seconds=10)
    while heartbeat.last_beat(tasks.WORKER_HEARTBEAT) is None and timezone.now() < deadline:
        pass
    assert heartbeat.last_beat(tasks.WORKER_HEARTBEAT) is not None


# The admin's first page and its branding -----------------------------------------------------------


def test_the_admin_index_leads_to_the_dashboard(admin_client):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:dashboard")


def test_staff_who_may_not_see_campaigns_keep_the_model_list_as_first_page(client):
    staff_login(client, "subscribers.view_subscriber")
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert reverse("admin:subscribers_subscriber_changelist") in response.content.decode()
    assert client.get(reverse("dashboard:dashboard")).status_code == 403


def test_anonymous_visitors_of_the_admin_index_are_sent_to_the_login(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_the_back_office_is_called_kanal_with_its_logo_and_colours(admin_client, client, in_english):
    for page in (
        admin_client.get(reverse("dashboard:dashboard")),
        admin_client.get(reverse("admin:subscribers_subscriber_changelist")),
        client.get(reverse("admin:login")),
    ):
        html = page.content.decode()
        assert "Django administration" not in html and "Django site admin" not in html
        assert re.search(r'<div id="site-name"><a [^>]*><img src="[^"]*kanal/logo\.svg" alt="">Kanal</a>', html)
        assert "kanal/admin.css" in html


def test_the_dashboard_lists_the_models_too(admin_client):
    html = admin_client.get(reverse("dashboard:dashboard")).content.decode()
    assert reverse("admin:campaigns_campaign_changelist") in html
