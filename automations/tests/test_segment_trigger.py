import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from audience.tests.factories import SegmentFactory, leaf
from automations import services
from automations.models import Automation, Journey, SegmentTriggerMember
from automations.tests.factories import active_automation, run_due
from subscribers.services.gdpr import subscriber_erase
from subscribers.tests.factories import SubscriberFactory, TagFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


def _segment_automation(tag, *, reentry=Automation.Reentry.NEVER, steps=()) -> Automation:
    segment = SegmentFactory(rules=leaf("tags", tags=[tag.pk]))
    return active_automation(
        trigger_kind="segment_joined", trigger_params={"segment": segment.pk}, reentry=reentry, steps=list(steps)
    )


# Joined a segment


@pytest.mark.parametrize(
    ("reentry", "steps", "entered_again"),
    [
        (Automation.Reentry.NEVER, [], False),
        (Automation.Reentry.AFTER_FINISHED, [], True),
        (Automation.Reentry.AFTER_FINISHED, [{"kind": "exit"}], False),
        (Automation.Reentry.WHEN_NOT_IN_IT, [{"kind": "exit"}], True),
        (Automation.Reentry.WHEN_NOT_IN_IT, [{"kind": "wait", "days": 2}], False),
    ],
)
def test_leaving_and_joining_the_segment_again_follows_the_reentry_rule(tag, subscriber, reentry, steps, entered_again):
    subscriber.tags.add(tag)
    automation = _segment_automation(tag, reentry=reentry, steps=steps)
    assert services.segment_triggers_evaluate() == 1
    run_due()
    assert services.segment_triggers_evaluate() == 0  # still a member: not a new join
    subscriber.tags.remove(tag)
    assert services.segment_triggers_evaluate() == 0
    assert not SegmentTriggerMember.objects.filter(automation=automation).exists()
    subscriber.tags.add(tag)
    assert services.segment_triggers_evaluate() == int(entered_again)
    assert Journey.objects.filter(subscriber=subscriber).count() == 1 + entered_again
    run_due()
    assert services.segment_triggers_evaluate() == 0
    assert Journey.objects.filter(subscriber=subscriber).count() == 1 + entered_again


def test_a_member_who_stays_is_entered_once_whatever_the_reentry_rule(tag):
    members = SubscriberFactory.create_batch(3)
    tag.subscribers.add(*members)
    _segment_automation(tag, reentry=Automation.Reentry.WHEN_NOT_IN_IT)
    assert services.segment_triggers_evaluate() == 3
    run_due()
    assert Journey.objects.filter(status=Journey.Status.FINISHED).count() == 3
    newcomer = SubscriberFactory()
    newcomer.tags.add(tag)
    assert services.segment_triggers_evaluate() == 1
    assert services.segment_triggers_evaluate() == 0
    assert list(Journey.objects.filter(status=Journey.Status.ACTIVE).values_list("subscriber", flat=True)) == [
        newcomer.pk
    ]


def test_a_member_matched_twice_by_the_rules_is_one_snapshot_row(tag, subscriber):
    second = TagFactory(name="second")
    subscriber.tags.add(tag, second)
    segment = SegmentFactory(rules=leaf("tags", tags=[tag.pk, second.pk]))
    automation = active_automation(
        trigger_kind="segment_joined", trigger_params={"segment": segment.pk}, steps=[{"kind": "exit"}]
    )
    assert services.segment_triggers_evaluate() == 1
    assert SegmentTriggerMember.objects.filter(automation=automation).count() == 1


def test_a_join_refused_by_consent_is_not_taken_later_while_still_a_member(tag, subscriber):
    subscriber.tags.add(tag)
    subscriber.status = "unsubscribed"
    subscriber.save(update_fields=["status"])
    automation = _segment_automation(tag, reentry=Automation.Reentry.WHEN_NOT_IN_IT)
    assert services.segment_triggers_evaluate() == 0
    assert SegmentTriggerMember.objects.filter(automation=automation, subscriber=subscriber).exists()


def test_an_erased_subscriber_leaves_the_snapshot(tag, subscriber):
    subscriber.tags.add(tag)
    automation = _segment_automation(tag)
    services.segment_triggers_evaluate()
    assert SegmentTriggerMember.objects.filter(automation=automation).count() == 1
    subscriber_erase(subscriber=subscriber)
    assert not SegmentTriggerMember.objects.exists()


def test_a_paused_segment_automation_sees_the_joins_of_the_pause_when_activated_again(tag, subscriber):
    automation = _segment_automation(tag, steps=[{"kind": "exit"}])
    assert services.segment_triggers_evaluate() == 0
    services.automation_pause(automation=automation)
    subscriber.tags.add(tag)
    assert services.segment_triggers_evaluate() == 0
    services.automation_activate(automation=automation)
    assert services.segment_triggers_evaluate() == 1


# Archiving


def test_archiving_ends_the_active_journeys_and_takes_no_more_entries(tag):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 2}])
    done, *waiting = SubscriberFactory.create_batch(3)
    tag.subscribers.add(done, *waiting)
    Journey.objects.filter(subscriber=done).update(status=Journey.Status.FINISHED)
    run_due()
    assert services.automation_archive(automation=automation) == 2
    journeys = Journey.objects.filter(automation=automation)
    assert set(journeys.exclude(subscriber=done).values_list("status", "exited_reason")) == {("exited", "archived")}
    assert all(journey.ended_at <= timezone.now() for journey in journeys.exclude(subscriber=done))
    assert journeys.get(subscriber=done).status == Journey.Status.FINISHED
    SubscriberFactory().tags.add(tag)
    assert journeys.count() == 3
    journeys.update(due_at=timezone.now())
    assert run_due() == 0


def test_archiving_drops_the_segment_snapshot(tag, subscriber):
    subscriber.tags.add(tag)
    automation = _segment_automation(tag, steps=[{"kind": "wait", "days": 2}])
    services.segment_triggers_evaluate()
    services.automation_archive(automation=automation)
    assert not SegmentTriggerMember.objects.exists()
    assert services.segment_triggers_evaluate() == 0


def test_an_archived_automation_is_activated_only_after_unarchiving(tag, subscriber):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "exit"}])
    services.automation_archive(automation=automation)
    with pytest.raises(ValidationError, match="It is archived: un-archive it first"):
        services.automation_activate(automation=automation)
    with pytest.raises(ValidationError, match="is archived and cannot be paused"):
        services.automation_pause(automation=automation)
    assert services.automation_unarchive(automation=automation).status == Automation.Status.DRAFT
    services.automation_activate(automation=automation)
    subscriber.tags.add(tag)
    assert Journey.objects.filter(subscriber=subscriber).exists()
