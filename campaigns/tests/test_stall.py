"""A sending campaign that no worker touches is shown as stalled: campaign page, progress, admin index."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.models import Campaign, Delivery
from campaigns.selectors import campaign_stall, campaigns_stalled, send_stall_seconds
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory, SubscriptionFactory
from newsletter_site.testing import staff_login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(admin_client, settings):
    settings.KANAL_SEND_STALL_SECONDS = 120
    settings.KANAL_SEND_RATE_PER_SECOND = 0
    admin_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def campaign(django_capture_on_commit_callbacks):
    """A campaign that has just started: three deliveries queued, no worker has run yet."""
    news = MailingListFactory()
    for _ in range(3):
        SubscriptionFactory(mailing_list=news)
    campaign = CampaignFactory(name="Novemberausgabe", mailing_lists=[news])
    ArticleFactory(campaign=campaign)
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    return campaign


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def started(campaign, seconds_ago: float) -> None:
    Campaign.objects.filter(pk=campaign.pk).update(started_at=ago(seconds_ago), updated_at=ago(seconds_ago))


def stall_of(campaign):
    """The stall of one campaign as its page sees it, checked against the index page's list."""
    campaign = Campaign.objects.get(pk=campaign.pk)
    stall = campaign_stall(campaign=campaign)
    listed = [stall for stall in campaigns_stalled() if stall.campaign.pk == campaign.pk]
    assert len(listed) == (stall is not None), "campaign page and admin index disagree"
    if stall is not None:
        assert listed[0].waiting == stall.waiting
    return stall


def claim_one(campaign, *, claimed_seconds_ago: float) -> None:
    token = sending.deliveries_claim(campaign_id=campaign.pk, limit=1)
    Delivery.objects.filter(claim=token).update(claimed_at=ago(claimed_seconds_ago))


# Which campaigns are stalled ---------------------------------------------------------------------


def test_a_campaign_nobody_picked_up_is_stalled_once_the_threshold_has_passed(campaign):
    started(campaign, 100)
    assert stall_of(campaign) is None
    started(campaign, 200)
    stall = stall_of(campaign)
    assert stall is not None
    assert (stall.waiting, stall.idle_seconds >= 200) == (3, True)


def test_a_healthy_campaign_is_not_stalled_however_long_it_has_been_sending(campaign, settings):
    settings.KANAL_SEND_BATCH_SIZE = 1
    sending.delivery_batch_send(campaign_id=campaign.pk)
    started(campaign, 3600)
    assert Delivery.objects.filter(campaign=campaign, status=Delivery.Status.QUEUED).count() == 2
    assert stall_of(campaign) is None


def test_a_slow_rate_limited_batch_that_still_sends_is_not_stalled(campaign, settings):
    settings.KANAL_SEND_RATE_PER_SECOND = 1
    started(campaign, 3600)
    # One batch holds every row; its claim is older than any threshold, but it sent a message a second ago.
    token = sending.deliveries_claim(campaign_id=campaign.pk, limit=3)
    Delivery.objects.filter(claim=token).update(claimed_at=ago(3000))
    first = Delivery.objects.filter(claim=token).order_by("pk").first()
    Delivery.objects.filter(pk=first.pk).update(status=Delivery.Status.SENT, claim="", sent_at=ago(1))
    assert stall_of(campaign) is None

    Delivery.objects.filter(pk=first.pk).update(sent_at=ago(3000))
    stall = stall_of(campaign)
    assert stall is not None and stall.waiting == 2


def test_a_claim_renewed_by_a_slow_batch_keeps_it_alive(campaign, settings):
    settings.KANAL_SEND_RATE_PER_SECOND = 1
    started(campaign, 3600)
    # At one message a second the batch renews its claim at most every STALE/4 + 50 seconds.
    claim_one(campaign, claimed_seconds_ago=settings.KANAL_SEND_STALE_SECONDS / 4 + 49)
    assert stall_of(campaign) is None


def test_claims_left_by_a_dead_worker_stall_the_campaign(campaign):
    started(campaign, 3600)
    claim_one(campaign, claimed_seconds_ago=600)
    stall = stall_of(campaign)
    assert stall is not None
    assert stall.waiting == 3, "the dead worker's row is still waiting too"
    assert 590 <= stall.idle_seconds <= 610


def test_paused_and_sent_campaigns_are_never_stalled(campaign, django_capture_on_commit_callbacks):
    started(campaign, 3600)
    assert stall_of(campaign) is not None
    sending.campaign_pause(campaign=campaign)
    started(campaign, 3600)
    assert stall_of(campaign) is None

    with django_capture_on_commit_callbacks():
        sending.campaign_resume(campaign=campaign)
    assert stall_of(campaign) is None, "resuming starts the clock again"
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    Delivery.objects.update(sent_at=ago(3600), claimed_at=ago(3600))
    started(campaign, 3600)
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT
    assert stall_of(campaign) is None


def test_the_threshold_is_never_shorter_than_a_healthy_batch_can_be_quiet(settings):
    settings.KANAL_SEND_STALL_SECONDS = 120
    settings.KANAL_SEND_STALE_SECONDS = 300
    assert send_stall_seconds() == 120
    settings.KANAL_SEND_RATE_PER_SECOND = 1
    assert send_stall_seconds() == 300 / 4 + 50  # a failing batch renews its claim only this often
    settings.KANAL_ESP_MERGE_FIELD_FORMAT = "%recipient.{}%"
    settings.KANAL_ESP_BATCH_SIZE, settings.KANAL_SEND_BATCH_SIZE, settings.KANAL_SEND_PARALLEL_BATCHES = 500, 500, 4
    assert send_stall_seconds() == 4 * 500  # nothing is written until an ESP call has all its rate slots
    settings.KANAL_SEND_STALL_SECONDS = 3000
    assert send_stall_seconds() == 3000


# What staff see -----------------------------------------------------------------------------------

WARNING = "No worker has sent anything for 5\xa0minutes although 3 messages are waiting."


def change_url(campaign):
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def test_progress_reports_the_stall_for_the_live_box(admin_client, campaign):
    progress_url = reverse("admin:campaigns_campaign_progress", args=[campaign.pk])
    started(campaign, 30)
    progress = admin_client.get(progress_url).json()
    assert (progress["stalled"], progress["idle_seconds"], progress["stall_message"]) == (False, None, None)

    started(campaign, 5 * 60 + 5)
    progress = admin_client.get(progress_url).json()
    assert progress["stalled"] is True
    assert 5 * 60 <= progress["idle_seconds"] < 6 * 60
    assert progress["stall_message"].startswith(WARNING)
    assert "Celery worker and beat" in progress["stall_message"]


def test_campaign_page_shows_the_warning_only_when_stalled(admin_client, campaign):
    started(campaign, 30)
    page = admin_client.get(change_url(campaign)).content.decode()
    assert 'class="messagelist hidden" id="send-stall"' in page
    assert WARNING not in page

    started(campaign, 5 * 60 + 5)
    page = admin_client.get(change_url(campaign)).content.decode()
    assert 'class="messagelist" id="send-stall"' in page
    assert WARNING in page


def test_the_first_admin_page_lists_stalled_campaigns_with_a_link(admin_client, campaign):
    healthy = CampaignFactory(name="Gesund", status=Campaign.Status.SENDING, started_at=ago(3600))
    started(campaign, 30)
    page = admin_client.get(reverse("admin:index"), follow=True).content.decode()
    assert 'id="stalled-campaigns"' not in page, "nothing is shown while all is well"

    started(campaign, 5 * 60 + 5)
    page = admin_client.get(reverse("admin:index"), follow=True).content.decode()
    assert 'id="stalled-campaigns"' in page
    assert f'<a href="{change_url(campaign)}">Novemberausgabe</a>: {WARNING}' in page
    stalled = page.split('id="stalled-campaigns"', 1)[1].split("</div>", 1)[0]
    assert change_url(healthy) not in stalled, "a sending campaign without waiting messages is not stalled"


def test_the_first_admin_page_shows_stalls_only_to_staff_who_may_view_campaigns(client, campaign):
    started(campaign, 5 * 60 + 5)
    staff_login(client, "subscribers.view_subscriber")
    page = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en", follow=True)
    assert page.status_code == 200
    assert "Novemberausgabe" not in page.content.decode()

    get_user_model().objects.filter(username="staff").delete()
    staff_login(client, "campaigns.view_campaign")
    page = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en", follow=True).content.decode()
    assert f'<a href="{change_url(campaign)}">Novemberausgabe</a>' in page
