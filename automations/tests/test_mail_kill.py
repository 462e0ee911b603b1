"""Kill real Celery workers with SIGKILL while a welcome automation sends its two mails, and count
what the SMTP server got.

Worker and beat run exactly as in production (``manage.py kanal_process worker|beat``); only beat's
intervals and the sending claims' staleness are shortened so the test does not wait minutes for the
sweepers (journeys have no claims to go stale: a killed runner's round rolls back). What this
proves: every journey runs each step once (no step skipped, none repeated), every subscriber gets
mail A and mail B, and the SMTP sink sees nothing beyond the one window no
sender can close (docs/faults.md: on SQLite at most one missing message per killed process, on
PostgreSQL at most one duplicate per killed process, each on a connection the kill cut).
"""

import random
import sys
import time
from collections import Counter
from email import message_from_bytes, policy

import pytest
from django.db import connection
from django.utils import timezone

from automations import mail, services
from automations.models import Journey, JourneyStepRun
from automations.tests.factories import active_automation, run_due
from campaigns.models import Campaign, Delivery
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.testing import wait_until
from newsletter_site.tests.processes import logs_shown_on_failure, start_process, stop_process
from newsletter_site.tests.sinks import WatchingSink, announce_pipelining, smtp_server
from subscribers.models import Subscriber
from subscribers.tests.factories import SubscriberFactory, TagFactory, bulk_active_subscribers

SUBSCRIBERS = 500
KILLS = 5

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(sys.platform != "linux", reason="kills process groups the Linux way"),
]


class SubjectSink(WatchingSink):
    """A WatchingSink that also counts each (recipient, subject), to tell mail A from mail B."""

    def __init__(self):
        super().__init__()
        self.subjects: Counter = Counter()

    async def handle_DATA(self, server, session, envelope):
        subject = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)["Subject"]
        with self.lock:
            for address in envelope.rcpt_tos:
                self.subjects[(address, str(subject))] += 1
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def subject_sink(monkeypatch):
    handler = SubjectSink()
    announce_pipelining(SubjectSink, monkeypatch)
    with smtp_server(handler) as port:
        yield handler, port


def automation_mail(subject: str) -> Campaign:
    campaign = CampaignFactory(name=subject, subject=subject, kind=Campaign.Kind.AUTOMATION, mailing_lists=[])
    ArticleFactory(campaign=campaign, headline=f"{subject}: Willkommen")
    return campaign


def environment(smtp_port: int) -> dict:
    return {
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": smtp_port,
        "SITE_URL": "https://news.example.com",
        "KANAL_SEND_BATCH_SIZE": 50,
        "KANAL_SEND_PARALLEL_BATCHES": 2,
        "KANAL_AUTOMATION_TICK_SECONDS": 1,
        "KANAL_SEND_SWEEP_SECONDS": 2,
        "KANAL_SEND_STALE_SECONDS": 6,
    }


def progress() -> int:
    """Steps run plus mails sent: grows whatever part of the pipeline is working."""
    return JourneyStepRun.objects.count() + Delivery.objects.filter(status=Delivery.Status.SENT).count()


def all_done() -> bool:
    return (
        not Journey.objects.filter(status=Journey.Status.ACTIVE).exists()
        and Delivery.objects.filter(status=Delivery.Status.SENT).count() == 2 * SUBSCRIBERS
    )


def test_killing_workers_mid_automation_skips_and_repeats_no_step_and_loses_no_mail(subject_sink, tmp_path):
    sink, port = subject_sink
    everyone = {f"w{n}@example.org" for n in range(SUBSCRIBERS)}
    bulk_active_subscribers(emails=sorted(everyone))
    mail_a, mail_b = automation_mail("Mail A"), automation_mail("Mail B")
    automation = active_automation(
        trigger_params={"tag": TagFactory(name="signed-up").pk},
        steps=[
            {"kind": "mail", "campaign": mail_a.pk},
            {"kind": "wait", "seconds": 3},
            {"kind": "mail", "campaign": mail_b.pk},
        ],
    )
    assert services.journeys_enter(automation=automation, candidates=Subscriber.objects.all()) == SUBSCRIBERS

    env = environment(port)
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat")}
    rng = random.Random(13)
    kills = 0
    with logs_shown_on_failure(*logs.values()):
        beat = start_process("beat", env=env, log_path=logs["beat"])
        worker = start_process("worker", env=env, log_path=logs["worker"])
        try:
            deadline = time.monotonic() + 240
            while kills < KILLS and time.monotonic() < deadline and not all_done():
                target = progress() + rng.randint(40, 160)
                wait_until(lambda target=target: progress() >= target or all_done(), timeout=60, interval=0.02)
                time.sleep(rng.uniform(0.0, 0.3))
                stop_process(worker)
                kills += 1
                worker = start_process("worker", env=env, log_path=logs["worker"])
            wait_until(all_done, timeout=deadline - time.monotonic(), interval=0.5, raise_on_timeout=False)
        finally:
            stop_process(worker)
            stop_process(beat)

    assert kills == KILLS, "the automation finished before the workers could be killed often enough"
    journeys = Journey.objects.filter(automation=automation)
    assert Counter(journeys.values_list("status", flat=True)) == {Journey.Status.FINISHED: SUBSCRIBERS}
    runs = Counter(JourneyStepRun.objects.values_list("journey_id", "step_index"))
    assert set(runs.values()) == {1}, "a step ran twice"
    assert len(runs) == 3 * SUBSCRIBERS, "a step was skipped"
    deliveries = Delivery.objects.filter(campaign__in=[mail_a, mail_b])
    assert Counter(deliveries.values_list("status", flat=True)) == {Delivery.Status.SENT: 2 * SUBSCRIBERS}
    assert all(delivery.occurrence == delivery.subscriber.journeys.get().pk for delivery in deliveries)

    # At the sink: A and B each once per subscriber, apart from the final-dot window.
    expected = {(address, subject) for address in everyone for subject in ("Mail A", "Mail B")}
    got = sink.subjects
    assert set(got) <= expected
    missing = expected - set(got)
    duplicates = {key for key, count in got.items() if count > 1}
    in_flight_when_cut, last_before_cut = sink.cut_connections()
    # Two worker processes per killed worker (KANAL_WORKER_CONCURRENCY defaults to 2).
    bound = kills * 2
    if connection.vendor == "postgresql":
        assert missing == set()
        assert {address for address, _subject in duplicates} <= last_before_cut
    else:
        assert duplicates == set()
        assert {address for address, _subject in missing} <= in_flight_when_cut
    assert len(missing) + len(duplicates) <= bound, (missing, duplicates)
    print(f"{kills} kills; final-dot window: {len(missing)} missing, {len(duplicates)} twice")


@pytest.mark.django_db(transaction=False)
def test_a_worker_dying_inside_the_mail_step_leaves_nothing_and_the_next_round_runs_it_once(monkeypatch):
    """The process dies (BaseException, nothing catches it) right after the delivery was inserted,
    before the step's transaction commits: no run, no delivery, the journey still due; the next
    runner, at once and without a sweep, makes exactly one of each."""
    welcome = automation_mail("Willkommen")
    tag = TagFactory(name="signed-up")
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "mail", "campaign": welcome.pk}])
    monkeypatch.setattr(mail.sending, "_queue_senders", lambda *, campaign_id: None)
    reader = SubscriberFactory()
    reader.tags.add(tag)

    class Killed(BaseException):
        pass

    add = mail.sending.deliveries_add

    def add_then_die(**kwargs):
        add(**kwargs)
        raise Killed

    monkeypatch.setattr(mail.sending, "deliveries_add", add_then_die)
    with pytest.raises(Killed):
        run_due()
    assert not JourneyStepRun.objects.exists()
    assert not Delivery.objects.exists()
    assert Journey.objects.get().due_at <= timezone.now()

    monkeypatch.setattr(mail.sending, "deliveries_add", add)
    assert run_due() == 1
    assert run_due() == 0
    journey = Journey.objects.get()
    assert journey.status == Journey.Status.FINISHED
    assert list(JourneyStepRun.objects.values_list("step_index", flat=True)) == [0]
    assert list(Delivery.objects.values_list("occurrence", flat=True)) == [journey.pk]
