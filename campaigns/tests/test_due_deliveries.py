"""Deliveries with a due time: no sender claims them early, the campaign waits for them, and they
go out exactly once when due, even when the task that was to wake the campaign is lost."""

import time
from collections import Counter
from datetime import timedelta
from email.utils import parseaddr

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from campaigns import extensions
from campaigns.models import Campaign, Delivery
from campaigns.selectors import campaign_stall, campaigns_stalled
from campaigns.services import sending
from campaigns.tests.factories import subscribe
from newsletter_site.testing import wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def due_later_for(monkeypatch):
    """A scheduler (as the send-time app registers) that makes the given subscribers' deliveries due later."""
    plan: dict[int, timedelta] = {}

    def scheduler(*, campaign):
        for subscriber_id, delay in plan.items():
            Delivery.objects.filter(campaign=campaign, subscriber_id=subscriber_id).update(
                due_at=timezone.now() + delay
            )

    monkeypatch.setattr(extensions, "DELIVERY_SCHEDULERS", [scheduler])
    return plan


def recipients(outbox) -> list[str]:
    return [parseaddr(message.to[0])[1] for message in outbox]


def is_sent(campaign) -> bool:
    campaign.refresh_from_db()
    return campaign.status == Campaign.Status.SENT


def send_due(campaign):
    outcome = sending.delivery_batch_send(campaign_id=campaign.pk)
    while outcome.more_to_send:
        outcome = sending.delivery_batch_send(campaign_id=campaign.pk)
    return outcome


def make_due(campaign):
    Delivery.objects.filter(campaign=campaign, due_at__isnull=False).update(
        due_at=timezone.now() - timedelta(seconds=1)
    )


def test_deliveries_not_yet_due_wait_and_keep_the_campaign_sending(
    campaign, news, due_later_for, mailoutbox, django_capture_on_commit_callbacks, admin_client
):
    now_readers = subscribe(news, 3)
    later_readers = subscribe(news, 2)
    for reader in later_readers:
        due_later_for[reader.pk] = timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=False):
        sending.campaign_start(campaign=campaign)

    outcome = send_due(campaign)

    assert sorted(recipients(mailoutbox)) == sorted(reader.email for reader in now_readers)
    assert not is_sent(campaign)
    assert 7100 < outcome.due_in <= 7200
    assert not sending.campaign_finish_if_done(campaign_id=campaign.pk)
    progress = sending.campaign_progress(campaign=campaign)
    assert (progress["sent"], progress["due_later"], progress["queued"]) == (3, 2, 2)
    assert progress["eta_seconds"] is None
    assert progress["next_due_at"] is not None
    assert campaign_stall(campaign=campaign) is None
    with translation.override("en"):
        page = admin_client.get(
            reverse("admin:campaigns_campaign_change", args=[campaign.pk]), HTTP_ACCEPT_LANGUAGE="en"
        ).content.decode()
    assert '<span data-field="due_later">2</span> due later' in page

    make_due(campaign)
    send_due(campaign)

    assert Counter(recipients(mailoutbox)) == Counter({reader.email: 1 for reader in now_readers + later_readers})
    assert is_sent(campaign)


def test_a_campaign_waiting_only_for_later_deliveries_is_not_stalled_until_they_are_due_and_left(
    campaign, news, due_later_for, settings, django_capture_on_commit_callbacks
):
    settings.KANAL_SEND_STALL_SECONDS = 120
    (reader,) = subscribe(news, 1)
    due_later_for[reader.pk] = timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=False):
        sending.campaign_start(campaign=campaign)
    long_ago = timezone.now() - timedelta(hours=2)
    Campaign.objects.filter(pk=campaign.pk).update(updated_at=long_ago, started_at=long_ago)
    campaign.refresh_from_db()
    assert campaign_stall(campaign=campaign) is None
    assert campaigns_stalled() == []

    # Due for a minute: not yet stalled, a sweep is at most 30 s away.
    Delivery.objects.filter(campaign=campaign).update(due_at=timezone.now() - timedelta(seconds=60))
    assert campaign_stall(campaign=campaign) is None
    # Due for ten minutes and still nobody claimed it: stalled.
    Delivery.objects.filter(campaign=campaign).update(due_at=timezone.now() - timedelta(minutes=10))
    assert campaign_stall(campaign=campaign) is not None
    assert [stall.campaign.pk for stall in campaigns_stalled()] == [campaign.pk]


def test_the_sweeper_queues_no_senders_while_everything_is_due_later_and_wakes_the_campaign_when_due(
    campaign, news, due_later_for, django_capture_on_commit_callbacks
):
    (reader,) = subscribe(news, 1)
    due_later_for[reader.pk] = timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=False):
        sending.campaign_start(campaign=campaign)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sending.deliveries_sweep()
    assert callbacks == []

    make_due(campaign)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sending.deliveries_sweep()
    assert callbacks


def test_only_one_wake_up_is_queued_per_due_moment(campaign, settings):
    first = sending.wake_up_claim(campaign_id=campaign.pk, due_in=600)
    second = sending.wake_up_claim(campaign_id=campaign.pk, due_in=600)
    assert (first, second) == (True, False)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_later_deliveries_once_they_are_due(
    campaign, news, due_later_for, smtp_sink, celery_worker_thread, settings
):
    settings.KANAL_SEND_BATCH_SIZE = 5
    now_readers = subscribe(news, 7)
    later_readers = subscribe(news, 4)
    for reader in later_readers:
        due_later_for[reader.pk] = timedelta(seconds=4)
    started = time.monotonic()

    sending.campaign_start(campaign=campaign)

    wait_until(lambda: len(smtp_sink.messages) >= 7, timeout=30, interval=0.05, message="the due mails")
    if time.monotonic() - started < 3:
        assert sorted(smtp_sink.recipients()) == sorted(reader.email for reader in now_readers)
        assert not is_sent(campaign)
    wait_until(lambda: is_sent(campaign), timeout=40, interval=0.1, message="the later mails, woken by countdown")
    assert time.monotonic() - started >= 3.5
    assert Counter(smtp_sink.recipients()) == Counter({reader.email: 1 for reader in now_readers + later_readers})


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_lost_wake_up_task_is_made_good_by_the_sweeper(
    campaign, news, due_later_for, smtp_sink, celery_worker_thread, settings, monkeypatch
):
    monkeypatch.setattr(sending, "wake_up_claim", lambda **kwargs: False)  # the countdown task never arrives
    now_readers = subscribe(news, 2)
    later_readers = subscribe(news, 2)
    for reader in later_readers:
        due_later_for[reader.pk] = timedelta(seconds=2)
    sending.campaign_start(campaign=campaign)
    wait_until(lambda: len(smtp_sink.messages) >= 2, timeout=30, interval=0.05, message="the due mails")
    time.sleep(3)
    assert not is_sent(campaign)
    assert len(smtp_sink.messages) == 2

    def swept_and_sent():
        sending.deliveries_sweep()  # what beat runs every 30 s
        return is_sent(campaign)

    wait_until(swept_and_sent, timeout=40, interval=0.5, message="the sweeper to wake the campaign")
    assert Counter(smtp_sink.recipients()) == Counter({reader.email: 1 for reader in now_readers + later_readers})
