"""The tracking endpoints stay bounded: a per-address rate, and a capped Redis queue while the batcher is down."""

import logging

import pytest
from django.core.wsgi import get_wsgi_application

from tracking import event_queue
from tracking.tests.conftest import path_of, process, queued, urls_for
from tracking.tests.test_wsgi import call
from tracking.wsgi import TrackingFastPath

pytestmark = pytest.mark.django_db


@pytest.fixture
def application():
    return TrackingFastPath(get_wsgi_application())


def test_one_address_is_recorded_only_up_to_its_rate_and_still_answered(application, settings, campaign, reader):
    settings.KANAL_TRACKING_RATE_PER_IP_PER_MINUTE = 3
    pixel, click_urls = urls_for(campaign, reader)

    statuses = [call(application, path_of(pixel), remote_addr="198.51.100.1")[0] for _ in range(5)]
    location = call(application, path_of(click_urls[0]), remote_addr="198.51.100.1")[1]["Location"]
    other = call(application, path_of(pixel), remote_addr="198.51.100.2")[0]

    assert statuses == ["200 OK"] * 5 and other == "200 OK"
    assert location == "https://example.org/eins", "the reader still gets where the link goes"
    assert len(queued()) == 4, "three from the busy address, one from the other"
    assert event_queue.dropped_counts() == {"rate": 3, "full": 0}


def test_queue_is_capped_while_the_batcher_is_down_with_a_log_line(application, settings, campaign, reader, caplog):
    settings.KANAL_TRACKING_QUEUE_MAX = 2
    _pixel, click_urls = urls_for(campaign, reader)

    with caplog.at_level(logging.WARNING, logger="tracking.event_queue"):
        answers = [call(application, path_of(click_urls[0]), remote_addr=f"198.51.100.{n}") for n in range(4)]

    assert [(status, headers["Location"]) for status, headers, _body in answers] == [
        ("302 Found", "https://example.org/eins")
    ] * 4
    assert len(queued()) == 2
    assert event_queue.dropped_counts() == {"rate": 0, "full": 2}
    assert [record.message for record in caplog.records if "queue is full" in record.message], caplog.text


def test_the_batcher_reports_and_resets_what_was_dropped(application, settings, campaign, reader, caplog):
    settings.KANAL_TRACKING_RATE_PER_IP_PER_MINUTE = 1
    pixel, _click_urls = urls_for(campaign, reader)
    for _ in range(3):
        call(application, path_of(pixel), remote_addr="198.51.100.1")

    with caplog.at_level(logging.WARNING, logger="tracking.services.events"):
        assert process().stored == 1

    assert "dropped since the last run: 2 over an address's rate" in caplog.text
    assert event_queue.dropped_counts() == {"rate": 0, "full": 0}
