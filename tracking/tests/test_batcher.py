"""Endpoint → Redis → batcher → database: every accepted event once, counters derived from stored rows."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import OperationalError, connection
from django.utils import timezone

from tracking import event_queue, tasks
from tracking.models import ArticleHourStats, CampaignHourStats, Event, LinkHourStats
from tracking.services import events as event_services
from tracking.signals import human_events_counted
from tracking.tests.conftest import BROWSER, hit, process, queued, urls_for
from tracking.tests.factories import CampaignFactory, DeliveryFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def totals(model=CampaignHourStats, **filters) -> dict:
    fields = [f.name for f in model._meta.fields if f.get_internal_type() == "PositiveIntegerField"]
    rows = model.objects.filter(**filters)
    return {name: sum(getattr(row, name) for row in rows) for name in fields}


def test_hits_reach_the_database_and_the_hourly_counters(client, campaign, reader, private_reader):
    pixel, click_urls = urls_for(campaign, reader)
    anonymous_pixel, anonymous_clicks = urls_for(campaign, private_reader)
    hit(client, pixel)
    hit(client, pixel)  # the same reader opens twice
    hit(client, click_urls[0])
    hit(client, click_urls[1])  # same article, other link
    hit(client, click_urls[2])  # another article
    hit(client, anonymous_pixel)
    hit(client, anonymous_clicks[2])

    outcome = process()

    assert outcome.stored == 7 and outcome.counted == 7
    assert queued() == []
    assert Event.objects.filter(counted=True).count() == 7
    assert totals() == {
        "clicks": 4,
        "machine_clicks": 0,
        "unique_clicks": 1,
        "anonymous_clicks": 1,
        "opens": 3,
        "machine_opens": 0,
        "unique_opens": 1,
        "anonymous_opens": 1,
    }
    first, second = campaign.campaign.articles.order_by("position")
    assert totals(ArticleHourStats, article=first)["clicks"] == 2
    assert totals(ArticleHourStats, article=first)["unique_clicks"] == 1
    assert totals(ArticleHourStats, article=second) == {
        "clicks": 2,
        "machine_clicks": 0,
        "unique_clicks": 1,
        "anonymous_clicks": 1,
    }
    assert totals(LinkHourStats, link_id=campaign.link_ids[2])["clicks"] == 2
    assert totals(LinkHourStats, link_id=campaign.link_ids[0])["unique_clicks"] == 1
    row = CampaignHourStats.objects.get()
    assert row.hour.minute == 0 and row.hour.second == 0


def test_running_the_batcher_again_changes_nothing(client, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    hit(client, pixel)
    hit(client, click_urls[0])
    process()
    before = totals()

    for _run in range(3):
        outcome = process()
        assert outcome.stored == 0 and outcome.counted == 0
    assert totals() == before
    assert Event.objects.count() == 2


def test_the_same_lines_stored_twice_count_once(client, campaign, reader):
    pixel, _links = urls_for(campaign, reader)
    hit(client, pixel)
    lines = queued()

    event_services.events_ingest(lines=lines)
    event_services.events_ingest(lines=lines)
    process()

    assert Event.objects.count() == 1
    assert totals()["opens"] == 1


def test_a_batcher_that_dies_after_storing_but_before_trimming_loses_and_doubles_nothing(
    client, campaign, reader, monkeypatch
):
    pixel, click_urls = urls_for(campaign, reader)
    for url in (pixel, *click_urls):
        hit(client, url)
    original_trim = event_queue.processing_trim

    def die(chunk):
        raise SystemExit("worker killed")

    monkeypatch.setattr(event_queue, "processing_trim", die)
    with pytest.raises(SystemExit):
        process()
    assert Event.objects.count() == 7, "the chunk was committed"
    assert len(queued()) == 7, "… and is still in Redis"

    monkeypatch.setattr(event_queue, "processing_trim", original_trim)
    process()
    assert Event.objects.count() == 7
    assert queued() == []
    # Six links within a second: a scanner's burst, counted as machine clicks.
    assert totals()["opens"] == 1 and totals()["machine_clicks"] == 6


def test_a_batcher_that_fails_while_storing_keeps_the_events_in_redis(client, campaign, reader, monkeypatch):
    pixel, click_urls = urls_for(campaign, reader)
    hit(client, pixel)
    hit(client, click_urls[0])

    def database_down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(event_services, "insert_rows", database_down)
    with pytest.raises(OperationalError):
        process()
    assert Event.objects.count() == 0
    assert len(queued()) == 2

    monkeypatch.undo()
    hit(client, click_urls[1])  # arrives while the processing list still waits
    process()
    assert Event.objects.count() == 3
    assert queued() == []


def test_events_in_chunks_all_arrive(client, campaign, reader, settings):
    settings.KANAL_TRACKING_BATCH_SIZE = 3
    pixel, click_urls = urls_for(campaign, reader)
    for _round in range(3):
        for url in (pixel, *click_urls):
            hit(client, url)

    process()

    assert Event.objects.count() == 21
    assert totals()["opens"] == 3 and totals()["unique_opens"] == 1
    assert totals()["clicks"] + totals()["machine_clicks"] == 18


def test_recent_events_wait_until_their_labels_have_settled(client, campaign, reader):
    pixel, _links = urls_for(campaign, reader)
    hit(client, pixel)

    outcome = event_services.events_process()
    assert outcome.stored == 1 and outcome.counted == 0
    assert not CampaignHourStats.objects.exists()

    outcome = process()
    assert outcome.counted == 1
    assert totals()["opens"] == 1


def test_unique_figures_hold_across_batches(client, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    hit(client, pixel)
    hit(client, click_urls[0])
    process()
    hit(client, pixel)
    hit(client, click_urls[0])
    hit(client, click_urls[3])
    process()

    assert totals()["opens"] == 2 and totals()["unique_opens"] == 1
    assert totals()["clicks"] == 3 and totals()["unique_clicks"] == 1
    assert totals(LinkHourStats)["unique_clicks"] == 2


def test_malformed_lines_are_dropped_not_retried_forever(campaign, reader):
    redis_client = event_queue.client(purpose="batcher")
    redis_client.rpush(
        event_queue.QUEUE_KEY, b"garbage", b"o\tnot-a-uid\t1\t1\t0\t0\t0\t\tUA", "\xff\xfe".encode("latin-1")
    )
    good = event_queue.event_line(kind="o", delivery_id=reader.pk, head=False, ip_hash="", user_agent="Mail\x00Client")
    redis_client.rpush(event_queue.QUEUE_KEY, good)

    process()

    assert queued() == []
    event = Event.objects.get()
    assert event.user_agent == "Mail Client", "NUL bytes never reach PostgreSQL"


def test_events_of_a_deleted_campaign_are_dropped(client, campaign, reader):
    pixel, _links = urls_for(campaign, reader)
    hit(client, pixel)
    campaign.campaign.delete()
    process()
    assert queued() == []
    assert Event.objects.count() == 0


def test_address_hashes_are_cleared_once_nothing_can_be_judged_against_them(client, campaign, private_reader):
    pixel, _links = urls_for(campaign, private_reader)
    hit(client, pixel)
    process(later=timedelta(seconds=django_settings.KANAL_TRACKING_SETTLE_SECONDS + 1))
    assert Event.objects.get().counted
    process(later=timedelta(hours=1))
    assert Event.objects.get().ip_hash == ""


def test_the_celery_task_runs_the_batcher_and_beat_schedules_it(client, campaign, reader):
    assert django_settings.CELERY_BEAT_SCHEDULE["tracking-process-events"]["task"] == "tracking.tasks.process_events"
    pixel, _links = urls_for(campaign, reader)
    hit(client, pixel)
    tasks.process_events.apply()
    assert Event.objects.count() == 1


def test_many_readers_many_events(client, campaign):
    deliveries = [
        DeliveryFactory(campaign=campaign.campaign, subscriber=SubscriberFactory(tracking_consent=index % 2 == 0))
        for index in range(20)
    ]
    for delivery in deliveries:
        pixel, click_urls = urls_for(campaign, delivery)
        hit(client, pixel)
        hit(client, click_urls[delivery.pk % len(click_urls)])

    process()

    figures = totals()
    assert figures["opens"] == 20 and figures["unique_opens"] == 10 and figures["anonymous_opens"] == 10
    assert figures["clicks"] == 20 and figures["unique_clicks"] == 10 and figures["anonymous_clicks"] == 10


@pytest.mark.django_db(transaction=True)
def test_batchers_running_at_once_store_and_count_every_event_once(settings):
    settings.KANAL_TRACKING_BATCH_SIZE = 25
    campaign = CampaignFactory()
    readers = [DeliveryFactory(campaign=campaign) for _ in range(20)]
    redis_client = event_queue.client(purpose="batcher")
    start_ms = int((timezone.now() - timedelta(minutes=30)).timestamp() * 1000)
    for index in range(300):
        line = event_queue.event_line(
            kind="o",
            delivery_id=readers[index % 20].pk,
            head=False,
            ip_hash="",
            user_agent=BROWSER,
            occurred_ms=start_ms + index * 1000,
        )
        redis_client.rpush(event_queue.QUEUE_KEY, line)
    errors = []

    def run():
        try:
            for _round in range(3):
                event_services.events_process()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    workers = [threading.Thread(target=run) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    process()

    assert errors == []
    assert Event.objects.count() == 300 and not Event.objects.filter(counted=False).exists()
    figures = totals()
    assert figures["opens"] == 300 and figures["unique_opens"] == 20


def test_the_batcher_announces_only_peoples_identified_events_once_per_batch(
    client, campaign, reader, private_reader, django_capture_on_commit_callbacks
):
    pixel, click_urls = urls_for(campaign, reader)
    _anonymous_pixel, anonymous_clicks = urls_for(campaign, private_reader)
    hit(client, pixel)
    hit(client, click_urls[2])
    hit(client, click_urls[0], user_agent="curl/8.0")  # a machine
    hit(client, anonymous_clicks[0])  # no consent: stored without the delivery
    announced = []

    def receive(sender, events, **kwargs):
        announced.append(events)

    human_events_counted.connect(receive)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            process()
            process()  # nothing new: nothing announced
    finally:
        human_events_counted.disconnect(receive)
    (events,) = announced
    second_article = campaign.campaign.articles.get(position=1)
    assert sorted((event.kind, event.link_id, event.article_id) for event in events) == [
        ("click", campaign.link_ids[2], second_article.pk),
        ("open", None, None),
    ]
    assert {event.subscriber_id for event in events} == {reader.subscriber_id}
