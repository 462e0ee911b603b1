from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audience.tests.factories import SegmentFactory, leaf
from automations import kinds, services
from automations.models import Automation, Journey, JourneyStepRun
from automations.tests.factories import active_automation, run_due
from subscribers.models import ConsentRecord, Subscriber, Subscription, SuppressedAddress, email_hash
from subscribers.services import optin
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory, TagFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


def _come_due():
    Journey.objects.filter(status=Journey.Status.ACTIVE).update(due_at=timezone.now() - timedelta(seconds=1))


def _tags(subscriber) -> set[str]:
    return set(Subscriber.objects.get(pk=subscriber.pk).tags.values_list("name", flat=True))


# Triggers


def test_tag_added_enters_and_the_steps_run(tag, other_tag, subscriber):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "tag_add", "tag": other_tag.pk}])
    subscriber.tags.add(tag)
    run_due()
    assert _tags(subscriber) == {"new", "welcomed"}
    journey = Journey.objects.get()
    assert journey.status == Journey.Status.FINISHED
    assert list(journey.step_runs.values_list("step_index", "status")) == [(0, "done")]


def test_tag_added_from_the_tag_side_enters_too(tag, other_tag):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "tag_add", "tag": other_tag.pk}])
    readers = SubscriberFactory.create_batch(3)
    tag.subscribers.add(*readers)
    assert Journey.objects.count() == 3


def test_another_tag_triggers_nothing(tag, other_tag, subscriber):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "exit"}])
    subscriber.tags.add(other_tag)
    assert not Journey.objects.exists()


def test_subscription_confirmed_to_the_list_enters(mailing_list, other_tag):
    active_automation(
        trigger_kind="subscription_confirmed",
        trigger_params={"list": mailing_list.pk},
        steps=[{"kind": "tag_add", "tag": other_tag.pk}],
    )
    outcome = optin.subscriber_subscribe(email="neu@example.org", mailing_list=mailing_list, consent_text=None)
    assert not Journey.objects.exists()  # pending: nothing confirmed yet
    from subscribers import tokens

    token = tokens.make_confirmation_token(
        subscription_id=outcome.subscription.pk, nonce=outcome.subscription.confirmation_nonce
    )
    optin.subscription_confirm(token=token)
    run_due()
    assert _tags(outcome.subscription.subscriber) == {"welcomed"}


def test_segment_trigger_enters_members_in_one_go_and_only_once(tag):
    members = SubscriberFactory.create_batch(3)
    outsider = SubscriberFactory()
    for member in members:
        member.tags.add(tag)
    segment = SegmentFactory(rules=leaf("tags", tags=[tag.pk]))
    active_automation(trigger_kind="segment_joined", trigger_params={"segment": segment.pk}, steps=[{"kind": "exit"}])
    assert services.segment_triggers_evaluate() == 3
    assert services.segment_triggers_evaluate() == 0
    run_due()
    assert services.segment_triggers_evaluate() == 0  # re-entry "never", also after the journey ended
    assert not Journey.objects.filter(subscriber=outsider).exists()


def test_entry_respects_the_entry_segment_and_consent(tag, other_tag):
    segment = SegmentFactory(rules=leaf("tags", tags=[other_tag.pk]))
    active_automation(trigger_params={"tag": tag.pk}, entry_segment=segment, steps=[{"kind": "exit"}])
    outside_segment = SubscriberFactory()
    inside = SubscriberFactory()
    inside.tags.add(other_tag)
    pending = SubscriberFactory(status=Subscriber.Status.PENDING)
    pending.tags.add(other_tag)
    suppressed = SubscriberFactory()
    suppressed.tags.add(other_tag)
    SuppressedAddress.objects.create(email_hash=email_hash(suppressed.email), reason=SuppressedAddress.Reason.MANUAL)
    tag.subscribers.add(outside_segment, inside, pending, suppressed)
    assert list(Journey.objects.values_list("subscriber", flat=True)) == [inside.pk]


def test_paused_automation_takes_no_entries(tag, subscriber):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "exit"}])
    services.automation_pause(automation=automation)
    subscriber.tags.add(tag)
    assert not Journey.objects.exists()


# Re-entry


@pytest.mark.parametrize(
    ("reentry", "after_finished", "after_exited"),
    [
        (Automation.Reentry.NEVER, False, False),
        (Automation.Reentry.AFTER_FINISHED, True, False),
        (Automation.Reentry.WHEN_NOT_IN_IT, True, True),
    ],
)
def test_reentry_rules(tag, reentry, after_finished, after_exited):
    automation = active_automation(trigger_params={"tag": tag.pk}, reentry=reentry, steps=[])
    finished, exited = SubscriberFactory(), SubscriberFactory()
    for subscriber, status in ((finished, Journey.Status.FINISHED), (exited, Journey.Status.EXITED)):
        Journey.objects.create(
            automation=automation, version=automation.versions.get(), subscriber=subscriber, due_at=timezone.now()
        )
        Journey.objects.filter(subscriber=subscriber).update(status=status)
    tag.subscribers.add(finished, exited)
    assert Journey.objects.filter(subscriber=finished, status="active").exists() is after_finished
    assert Journey.objects.filter(subscriber=exited, status="active").exists() is after_exited


def test_nobody_enters_twice_while_active(tag, subscriber):
    automation = active_automation(
        trigger_params={"tag": tag.pk}, reentry=Automation.Reentry.WHEN_NOT_IN_IT, steps=[{"kind": "wait", "days": 1}]
    )
    subscriber.tags.add(tag)
    subscriber.tags.remove(tag)
    subscriber.tags.add(tag)
    assert Journey.objects.filter(automation=automation).count() == 1


def test_the_database_allows_one_active_journey_per_subscriber(tag, subscriber):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[])
    version = automation.versions.get()
    Journey.objects.create(automation=automation, version=version, subscriber=subscriber, due_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Journey.objects.create(automation=automation, version=version, subscriber=subscriber, due_at=timezone.now())
    Journey.objects.update(status=Journey.Status.FINISHED)
    Journey.objects.create(automation=automation, version=version, subscriber=subscriber, due_at=timezone.now())


def test_two_entries_racing_past_the_check_make_one_journey(tag, subscriber, monkeypatch):
    """Both entries see no journey (the check is bypassed as a concurrent one would be); the constraint drops one."""
    automation = active_automation(
        trigger_params={"tag": tag.pk}, reentry=Automation.Reentry.WHEN_NOT_IN_IT, steps=[{"kind": "wait", "days": 1}]
    )
    monkeypatch.setattr(services, "_eligible", lambda automation, candidates: candidates)
    candidates = Subscriber.objects.filter(pk=subscriber.pk)
    assert services.journeys_enter(automation=automation, candidates=candidates) == 1
    services.journeys_enter(automation=automation, candidates=candidates)
    assert Journey.objects.filter(automation=automation, status=Journey.Status.ACTIVE).count() == 1


# Steps


def test_wait_holds_the_journey_until_due(tag, other_tag, subscriber):
    active_automation(
        trigger_params={"tag": tag.pk},
        steps=[{"kind": "wait", "hours": 2}, {"kind": "tag_add", "tag": other_tag.pk}],
    )
    subscriber.tags.add(tag)
    run_due()
    journey = Journey.objects.get()
    assert journey.step_index == 1
    assert journey.due_at > timezone.now() + timedelta(hours=1)
    run_due()
    assert _tags(subscriber) == {"new"}
    _come_due()
    run_due()
    assert _tags(subscriber) == {"new", "welcomed"}


def test_remove_tag_step(tag, subscriber):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "tag_remove", "tag": tag.pk}])
    subscriber.tags.add(tag)
    run_due()
    assert _tags(subscriber) == set()


def test_subscribe_step_starts_double_opt_in_with_a_consent_record(tag, subscriber, mailing_list):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "list_subscribe", "list": mailing_list.pk}])
    subscriber.tags.add(tag)
    run_due()
    subscription = Subscription.objects.get(subscriber=subscriber, mailing_list=mailing_list)
    assert subscription.status == Subscription.Status.PENDING
    assert ConsentRecord.objects.filter(
        subscriber=subscriber, mailing_list=mailing_list, action=ConsentRecord.Action.SIGNUP
    ).exists()


def test_unsubscribe_step_records_consent_withdrawal(tag, subscriber, mailing_list):
    SubscriptionFactory(subscriber=subscriber, mailing_list=mailing_list)
    other = SubscriptionFactory(subscriber=subscriber)
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "list_unsubscribe", "list": mailing_list.pk}])
    subscriber.tags.add(tag)
    run_due()
    assert Subscription.objects.get(subscriber=subscriber, mailing_list=mailing_list).status == "unsubscribed"
    assert Subscription.objects.get(pk=other.pk).status == "active"
    assert ConsentRecord.objects.filter(subscriber=subscriber, action=ConsentRecord.Action.UNSUBSCRIBE).count() == 1
    assert Journey.objects.get().status == Journey.Status.FINISHED


@pytest.mark.parametrize(("member", "expected"), [(True, {"new", "vip"}), (False, {"new", "welcomed", "vip"})])
def test_branch_jumps_for_members_and_goes_on_for_the_others(tag, other_tag, subscriber, member, expected):
    vip = TagFactory(name="vip")
    segment = SegmentFactory(rules=leaf("tags", tags=[vip.pk]))
    if member:
        subscriber.tags.add(vip)
    active_automation(
        trigger_params={"tag": tag.pk},
        steps=[
            {"kind": "branch", "segment": segment.pk, "goto": 2},
            {"kind": "tag_add", "tag": other_tag.pk},
            {"kind": "tag_add", "tag": vip.pk},
        ],
    )
    subscriber.tags.add(tag)
    run_due()
    assert _tags(subscriber) == expected
    runs = JourneyStepRun.objects.order_by("step_index")
    assert [run.step_index for run in runs] == ([0, 2] if member else [0, 1, 2])
    assert runs[0].detail == {"member": member}


def test_exit_step_ends_the_journey_there(tag, other_tag, subscriber):
    active_automation(
        trigger_params={"tag": tag.pk}, steps=[{"kind": "exit"}, {"kind": "tag_add", "tag": other_tag.pk}]
    )
    subscriber.tags.add(tag)
    run_due()
    journey = Journey.objects.get()
    assert (journey.status, journey.exited_reason) == (Journey.Status.EXITED, "exit step")
    assert _tags(subscriber) == {"new"}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"kind": "send_mail"}], "unknown kind"),
        ([{"kind": "wait"}], "longer than zero"),
        ([{"kind": "wait", "days": -1}], "zero or more"),
        ([{"kind": "tag_add"}], "existing object"),
        ([{"kind": "branch", "segment": 1, "goto": 0}], "later step"),
        ([{"kind": "branch", "segment": 1, "goto": 3}], "later step"),
        ([{"kind": "exit", "why": 1}], "no parameters"),
    ],
)
def test_malformed_steps_are_refused_clearly(steps, message):
    with pytest.raises(ValidationError, match=message):
        kinds.steps_clean(steps)


# Exactly once


def test_running_twice_does_not_repeat_a_step(tag, subscriber):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "tag_remove", "tag": tag.pk}])
    subscriber.tags.add(tag)
    run_due()
    subscriber.tags.add(tag)  # re-entry "never": no new journey
    run_due()
    assert JourneyStepRun.objects.count() == 1
    assert _tags(subscriber) == {"new"}


def test_a_runner_task_delivered_twice_runs_each_step_once(tag, other_tag, subscriber):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "tag_add", "tag": other_tag.pk}])
    subscriber.tags.add(tag)
    assert run_due() == 1
    assert run_due() == 0  # the same task again, delivered late: nothing is due any more
    assert JourneyStepRun.objects.count() == 1
    assert Journey.objects.get().status == Journey.Status.FINISHED


def test_a_step_that_raises_is_retried_not_skipped(tag, other_tag, subscriber, monkeypatch):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "tag_add", "tag": other_tag.pk}])
    subscriber.tags.add(tag)
    real = kinds.STEPS["tag_add"]

    def broken(journey, params, index):
        real.run(journey, params, index)
        raise RuntimeError("database went away")

    monkeypatch.setitem(kinds.STEPS, "tag_add", kinds.StepKind(real.key, real.label, real.clean, real.problems, broken))
    run_due()
    journey = Journey.objects.get()
    assert (journey.status, journey.step_index, journey.attempts) == ("active", 0, 1)
    assert not JourneyStepRun.objects.exists()
    assert _tags(subscriber) == {"new"}  # the effect rolled back with the run
    monkeypatch.setitem(kinds.STEPS, "tag_add", real)
    _come_due()
    run_due()
    assert _tags(subscriber) == {"new", "welcomed"}
    assert Journey.objects.get().status == Journey.Status.FINISHED


def test_a_reference_deleted_mid_journey_exits_with_the_step_skipped(tag, subscriber):
    doomed = TagFactory(name="doomed")
    active_automation(
        trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 1}, {"kind": "tag_add", "tag": doomed.pk}]
    )
    subscriber.tags.add(tag)
    run_due()
    doomed.delete()
    _come_due()
    run_due()
    journey = Journey.objects.get()
    assert (journey.status, journey.exited_reason) == (Journey.Status.EXITED, "broken step")
    assert journey.step_runs.get(step_index=1).status == JourneyStepRun.Status.SKIPPED


# Consent


@pytest.mark.parametrize(
    "status", [Subscriber.Status.UNSUBSCRIBED, Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED]
)
def test_withdrawn_consent_mid_journey_exits(tag, other_tag, subscriber, status):
    active_automation(
        trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 1}, {"kind": "tag_add", "tag": other_tag.pk}]
    )
    subscriber.tags.add(tag)
    run_due()
    Subscriber.objects.filter(pk=subscriber.pk).update(status=status)
    _come_due()
    run_due()
    journey = Journey.objects.get()
    assert (journey.status, journey.exited_reason) == (Journey.Status.EXITED, f"consent: {status}")
    assert _tags(subscriber) == {"new"}


def test_suppressed_address_mid_journey_exits(tag, other_tag, subscriber):
    active_automation(
        trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 1}, {"kind": "tag_add", "tag": other_tag.pk}]
    )
    subscriber.tags.add(tag)
    run_due()
    SuppressedAddress.objects.create(email_hash=email_hash(subscriber.email), reason=SuppressedAddress.Reason.MANUAL)
    _come_due()
    run_due()
    assert Journey.objects.get().exited_reason == "consent: suppressed"


def test_the_gdpr_export_lists_the_journeys(tag, subscriber):
    from subscribers.services.gdpr import subscriber_export

    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "exit"}])
    subscriber.tags.add(tag)
    run_due()
    [journey] = subscriber_export(subscriber=subscriber)["automation_journeys"]
    assert (journey["automation"], journey["status"], journey["steps_run"]) == ("Welcome", "exited", [0])


def test_erasure_removes_the_journeys(tag, subscriber):
    from subscribers.services.gdpr import subscriber_erase

    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 1}])
    subscriber.tags.add(tag)
    subscriber_erase(subscriber=subscriber)
    assert not Journey.objects.exists()


# Versions and activation


def test_editing_an_active_automation_makes_a_new_version_and_running_journeys_keep_theirs(tag, other_tag):
    automation = active_automation(
        trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 1}, {"kind": "tag_add", "tag": other_tag.pk}]
    )
    early, late = SubscriberFactory(), SubscriberFactory()
    early.tags.add(tag)
    automation.steps = [{"kind": "wait", "days": 1}, {"kind": "tag_remove", "tag": tag.pk}]
    services.automation_save(automation=automation)
    late.tags.add(tag)
    assert list(automation.versions.values_list("number", flat=True)) == [2, 1]
    run_due()
    _come_due()
    run_due()
    assert _tags(early) == {"new", "welcomed"}
    assert _tags(late) == set()
    services.automation_save(automation=automation)  # unchanged steps: no new version
    assert automation.versions.count() == 2


def test_pausing_holds_journeys_and_activating_again_goes_on(tag, other_tag, subscriber):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "tag_add", "tag": other_tag.pk}])
    subscriber.tags.add(tag)
    services.automation_pause(automation=automation)
    assert run_due() == 0
    services.automation_activate(automation=automation)
    run_due()
    assert _tags(subscriber) == {"new", "welcomed"}


def test_activation_is_refused_with_a_broken_reference(tag):
    gone = TagFactory(name="gone")
    automation = Automation.objects.create(
        name="Broken",
        trigger_kind="tag_added",
        trigger_params={"tag": tag.pk},
        steps=[{"kind": "tag_add", "tag": gone.pk}],
    )
    gone_id = gone.pk
    gone.delete()
    with pytest.raises(ValidationError) as refused:
        services.automation_activate(automation=automation)
    assert refused.value.messages == [
        "“Broken” cannot be activated:",
        f"Step 0: The tag {gone_id} no longer exists.",
    ]
    automation.refresh_from_db()
    assert automation.status == Automation.Status.DRAFT
    assert not automation.versions.exists()


def test_a_step_that_would_retrigger_its_own_automation_is_refused(tag):
    automation = Automation.objects.create(
        name="Loop",
        trigger_kind="tag_added",
        trigger_params={"tag": tag.pk},
        steps=[{"kind": "tag_add", "tag": tag.pk}],
    )
    with pytest.raises(ValidationError, match="would start it again: “Loop” → “Loop”"):
        services.automation_activate(automation=automation)


def test_activation_is_refused_with_a_deleted_trigger_list(mailing_list):
    automation = Automation.objects.create(
        name="L", trigger_kind="subscription_confirmed", trigger_params={"list": mailing_list.pk}, steps=[]
    )
    mailing_list.delete()
    with pytest.raises(ValidationError, match=r"mailing list \d+ no longer exists"):
        services.automation_activate(automation=automation)


def test_outline_counts_per_step(tag, other_tag):
    automation = active_automation(
        trigger_params={"tag": tag.pk},
        steps=[{"kind": "tag_add", "tag": other_tag.pk}, {"kind": "wait", "days": 1}, {"kind": "exit"}],
    )
    readers = SubscriberFactory.create_batch(3)
    tag.subscribers.add(*readers)
    run_due()
    Subscriber.objects.filter(pk=readers[0].pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    _come_due()
    run_due()
    from automations.selectors import automation_outline

    outline = automation_outline(automation=automation)
    assert [(row["entered"], row["waiting"], row["exited"]) for row in outline] == [(3, 0, 0), (3, 0, 0), (2, 0, 3)]


def test_deleting_an_automation_takes_its_versions_and_journeys(tag, subscriber):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "exit"}])
    subscriber.tags.add(tag)
    run_due()
    automation.delete()
    assert not Journey.objects.exists()
    assert not JourneyStepRun.objects.exists()


def test_an_entry_segment_in_use_cannot_be_deleted(tag):
    from django.db.models import ProtectedError

    segment = SegmentFactory()
    active_automation(trigger_params={"tag": tag.pk}, entry_segment=segment, steps=[])
    with pytest.raises(ProtectedError):
        segment.delete()
