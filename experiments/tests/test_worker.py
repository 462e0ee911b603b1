"""The whole way through a real Celery worker and a real SMTP server: variants, then the winner to the rest."""

import email
from collections import Counter
from email.header import decode_header, make_header

import pytest

from campaigns.models import Campaign
from experiments import tasks
from experiments.models import ABTest
from experiments.services import ab_test_start
from experiments.tests.factories import ab_test_for, campaign_with_readers
from newsletter_site.testing import wait_until
from subscribers.models import Subscriber

pytestmark = pytest.mark.worker


def subjects_by_recipient(sink) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for recipients, content in list(sink.messages):
        subject = str(make_header(decode_header(email.message_from_bytes(content)["Subject"])))
        for recipient in recipients:
            found.setdefault(recipient, []).append(subject)
    return found


def all_sent(ab_test: ABTest) -> bool:
    campaigns = Campaign.objects.filter(ab_variant__ab_test=ab_test)
    return campaigns.exists() and not campaigns.exclude(status=Campaign.Status.SENT).exists()


def test_after_the_deadline_the_fallback_reaches_exactly_the_rest_once(smtp_sink, celery_worker_thread, settings):
    settings.KANAL_SEND_BATCH_SIZE = 50
    campaign = campaign_with_readers(readers=300)
    ab_test = ab_test_for(campaign, minimum_sample=50, fallback=ABTest.Fallback.VARIANT_A)
    ab_test_start(ab_test=ab_test, warnings_confirmed=True)
    wait_until(lambda: all_sent(ab_test), timeout=60, interval=0.1, message="the variants to be sent")
    tested = len(smtp_sink.messages)
    assert 100 < tested < 200

    # The test window is over: move its start back by its duration.
    ab_test.refresh_from_db()
    ABTest.objects.filter(pk=ab_test.pk).update(started_at=ab_test.started_at - ab_test.duration)
    tasks.evaluate.delay()
    tasks.evaluate.delay()
    wait_until(
        lambda: len(smtp_sink.messages) == 300 and all_sent(ab_test),
        timeout=60,
        interval=0.1,
        message="the winner to reach the rest",
    )
    tasks.evaluate.delay().get(timeout=30)

    ab_test.refresh_from_db()
    assert ab_test.status == ABTest.Status.WINNER_SENT and ab_test.decided_by_fallback
    assert ab_test.decided_variant.letter == "A"
    received = subjects_by_recipient(smtp_sink)
    assert Counter(len(subjects) for subjects in received.values()) == Counter({1: 300})
    assert set(received) == set(Subscriber.objects.values_list("email", flat=True))
    variant_b = set(ab_test.variants.get(letter="B").campaign.deliveries.values_list("subscriber__email", flat=True))
    assert {address for address, subjects in received.items() if subjects == ["Das ist neu"]} == variant_b
    assert Counter(subject for subjects in received.values() for subject in subjects)["Neuigkeiten"] == 300 - len(
        variant_b
    )
