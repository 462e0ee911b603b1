import sys
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.utils import timezone

from automations import tasks
from automations.models import Journey, JourneyStepRun
from automations.tests.factories import active_automation
from newsletter_site.testing import wait_until
from newsletter_site.tests.processes import logs_shown_on_failure, start_process, stop_process
from subscribers.tests.factories import SubscriberFactory, TagFactory


@pytest.mark.worker
def test_welcome_automation_runs_end_to_end_in_a_real_worker(celery_worker_thread):
    """Entering queues a tick; the worker claims and runs "tag A", holds the wait, and beat's tick
    (called here directly) hands the journey back to the worker for "tag B" once it is due."""
    signed_up, tag_a, tag_b = TagFactory(name="signed-up"), TagFactory(name="A"), TagFactory(name="B")
    active_automation(
        trigger_params={"tag": signed_up.pk},
        steps=[
            {"kind": "tag_add", "tag": tag_a.pk},
            {"kind": "wait", "seconds": 1},
            {"kind": "tag_add", "tag": tag_b.pk},
        ],
    )
    reader = SubscriberFactory()
    reader.tags.add(signed_up)

    def names():
        return set(reader.tags.values_list("name", flat=True))

    wait_until(lambda: "A" in names(), timeout=20, message="the worker to run the first step")
    journey = wait_until(lambda: Journey.objects.filter(step_index=2).first(), timeout=20, message="the wait to start")
    assert "B" not in names()
    wait_until(lambda: journey.due_at <= timezone.now(), timeout=5, message="the wait to pass")
    tasks.tick()
    wait_until(lambda: Journey.objects.filter(status=Journey.Status.FINISHED).exists(), timeout=20)
    assert names() == {"signed-up", "A", "B"}
    assert list(JourneyStepRun.objects.order_by("step_index").values_list("step_index", flat=True)) == [0, 1, 2]


@pytest.mark.worker
def test_the_mail_step_sends_through_a_real_worker_into_an_smtp_sink(celery_worker_thread, smtp_sink):
    """Entering queues a tick; the worker runs the mail step, which queues the delivery and, once the
    batch of journeys is done, the campaign's senders; the sending pipeline delivers it over SMTP."""
    from campaigns.models import Campaign, Delivery
    from campaigns.tests.factories import ArticleFactory, CampaignFactory

    welcome = CampaignFactory(name="Willkommen", kind=Campaign.Kind.AUTOMATION, mailing_lists=[])
    ArticleFactory(campaign=welcome, headline="Schön, dass du da bist")
    signed_up = TagFactory(name="signed-up")
    active_automation(trigger_params={"tag": signed_up.pk}, steps=[{"kind": "mail", "campaign": welcome.pk}])
    readers = SubscriberFactory.create_batch(3)
    for reader in readers:
        reader.tags.add(signed_up)

    wait_until(lambda: len(smtp_sink.messages) == 3, timeout=30, message="the three welcome mails at the sink")
    assert sorted(smtp_sink.recipients()) == sorted(reader.email for reader in readers)
    message = message_from_bytes(smtp_sink.messages[0][1], policy=policy.default)
    assert "Schön, dass du da bist" in message.get_body(("plain",)).get_content()
    wait_until(lambda: set(Delivery.objects.values_list("status", flat=True)) == {"sent"}, timeout=10)
    welcome.refresh_from_db()
    assert welcome.status == Campaign.Status.SENDING
    assert Journey.objects.filter(status=Journey.Status.FINISHED).count() == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(sys.platform != "linux", reason="kills process groups the Linux way")
def test_a_worker_that_starts_takes_the_journeys_already_due_without_waiting_for_beat(tmp_path):
    """No beat runs and nothing is queued: the journeys fell due while no worker ran. The worker,
    started as production starts it, ticks once when it is ready."""
    tagged = TagFactory(name="welcomed")
    automation = active_automation(
        trigger_params={"tag": TagFactory(name="signed-up").pk},
        steps=[{"kind": "wait", "seconds": 3600}, {"kind": "tag_add", "tag": tagged.pk}],
    )
    readers = SubscriberFactory.create_batch(3)
    Journey.objects.bulk_create(
        Journey(
            subscriber=reader,
            automation=automation,
            version=automation.versions.get(),
            step_index=1,
            due_at=timezone.now() - timedelta(minutes=5),
        )
        for reader in readers
    )
    log = tmp_path / "worker.log"
    with logs_shown_on_failure(log):
        worker = start_process("worker", env={"KANAL_AUTOMATION_TICK_SECONDS": 3600}, log_path=log)
        try:
            wait_until(
                lambda: not Journey.objects.filter(status=Journey.Status.ACTIVE).exists(),
                timeout=60,
                message="the journeys due before the worker started to run",
            )
        finally:
            stop_process(worker)
    assert tagged.subscribers.count() == 3
