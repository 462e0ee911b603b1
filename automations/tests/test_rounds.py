"""The runner advances due journeys in rounds: up to ROUND_SIZE journeys, one step at a time for
all of them together, with the same guarantees as one journey at a time."""

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations import mail, services
from automations.models import Journey, JourneyStepRun
from automations.tests.factories import active_automation, run_due, runner_holding
from campaigns.models import Campaign, Delivery
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.models import Subscriber, SuppressedAddress, email_hash
from subscribers.tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def welcome(tag, monkeypatch):
    monkeypatch.setattr(mail.sending, "_queue_senders", lambda *, campaign_id: None)
    campaign = CampaignFactory(name="Willkommen", kind=Campaign.Kind.AUTOMATION, mailing_lists=[])
    ArticleFactory(campaign=campaign)
    return active_automation(
        trigger_params={"tag": tag.pk},
        steps=[
            {"kind": "mail", "campaign": campaign.pk},
            {"kind": "wait", "days": 1},
            {"kind": "tag_remove", "tag": tag.pk},
        ],
    )


def _enter(automation, count: int) -> list[Subscriber]:
    people = SubscriberFactory.create_batch(count)
    services.journeys_enter(automation=automation, candidates=Subscriber.objects.filter(pk__in=[p.pk for p in people]))
    return people


def _advance_counting_queries() -> int:
    with CaptureQueriesContext(connection) as queries:
        run_due()
    return len(queries)


def test_a_batch_costs_the_same_queries_however_many_journeys_it_holds(welcome):
    _enter(welcome, 3)
    few = _advance_counting_queries()
    _enter(welcome, 30)
    many = _advance_counting_queries()
    assert many == few
    assert Counter(JourneyStepRun.objects.values_list("step_index", flat=True)) == {0: 33, 1: 33}
    assert Delivery.objects.count() == 33
    assert set(Journey.objects.values_list("step_index", flat=True)) == {2}


def test_one_journey_whose_step_fails_holds_up_only_itself(welcome):
    people = _enter(welcome, 4)
    unlucky = Journey.objects.get(subscriber=people[1])
    # A delivery that should not exist makes this journey's mail step fail, and with it the round.
    Delivery.objects.create(
        campaign_id=welcome.steps[0]["campaign"], subscriber_id=unlucky.subscriber_id, occurrence=unlucky.pk
    )
    run_due()
    unlucky.refresh_from_db()
    assert (unlucky.step_index, unlucky.attempts) == (0, 1)
    assert unlucky.due_at > timezone.now()
    assert not unlucky.step_runs.exists()
    others = Journey.objects.exclude(pk=unlucky.pk)
    assert set(others.values_list("step_index", "attempts")) == {(2, 0)}
    assert JourneyStepRun.objects.filter(step_index=0).count() == 3


def test_a_round_exits_the_journeys_without_consent_and_runs_the_others(welcome):
    people = _enter(welcome, 4)
    Subscriber.objects.filter(pk=people[0].pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    SuppressedAddress.objects.create(email_hash=email_hash(people[1].email), reason=SuppressedAddress.Reason.MANUAL)
    run_due()
    reasons = dict(Journey.objects.values_list("subscriber_id", "exited_reason"))
    assert reasons == {
        people[0].pk: "consent: unsubscribed",
        people[1].pk: "consent: suppressed",
        people[2].pk: "",
        people[3].pk: "",
    }
    assert set(Delivery.objects.values_list("subscriber_id", flat=True)) == {people[2].pk, people[3].pk}


def test_a_burst_of_entries_queues_one_tick_a_second_later(tag, monkeypatch, django_capture_on_commit_callbacks):
    from automations import tasks

    queued = []
    monkeypatch.setattr(tasks.tick, "apply_async", lambda **options: queued.append(options))
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 1}])
    with django_capture_on_commit_callbacks(execute=True):
        for person in SubscriberFactory.create_batch(3):
            person.tags.add(tag)
    assert Journey.objects.count() == 3
    assert queued == [{"countdown": services.ENTRY_TICK_SECONDS}]


def test_rounds_in_a_row_queue_the_mail_senders_once_a_second(welcome, monkeypatch):
    wanted = []
    monkeypatch.setattr(mail.sending, "_queue_senders", lambda *, campaign_id: wanted.append(campaign_id))
    monkeypatch.setattr(services, "ROUND_SIZE", 1)
    _enter(welcome, 2)
    assert run_due() == 2
    assert Delivery.objects.count() == 2
    assert wanted == [welcome.steps[0]["campaign"]]


def test_a_runner_out_of_time_hands_over_to_a_fresh_one(welcome, monkeypatch):
    from automations import tasks

    queued = []
    monkeypatch.setattr(tasks.tick, "apply_async", lambda **options: queued.append(options))
    monkeypatch.setattr(services, "ROUND_SIZE", 2)
    _enter(welcome, 3)
    assert services.journeys_advance(seconds=0) == 2
    assert queued == [{"countdown": services.ENTRY_TICK_SECONDS}]
    assert run_due() == 1
    assert queued == [{"countdown": services.ENTRY_TICK_SECONDS}]


@pytest.mark.skipif(
    not connection.features.has_select_for_update_skip_locked, reason="SQLite runs one writer at a time"
)
@pytest.mark.django_db(transaction=True)
def test_a_runner_skips_the_journeys_another_runner_holds(welcome):
    people = _enter(welcome, 3)
    held = Journey.objects.get(subscriber=people[0])
    with runner_holding(held):
        assert run_due() == 2
    assert Delivery.objects.count() == 2
    assert run_due() == 1
    assert Counter(JourneyStepRun.objects.values_list("journey_id", "step_index")) == {
        (journey.pk, index): 1 for journey in Journey.objects.all() for index in (0, 1)
    }
