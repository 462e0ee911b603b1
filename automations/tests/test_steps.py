"""The wait-until and set-field steps, and the subscriber's time zone they rely on."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from automations import kinds
from automations.models import Journey, JourneyStepRun
from automations.tests.factories import active_automation, run_due
from subscribers.models import CustomField, Subscriber
from subscribers.selectors import subscriber_zone
from subscribers.services import gdpr
from subscribers.tests.factories import SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def _due(time, now, zone=BERLIN, weekdays=None):
    params = kinds.STEPS["wait_until"].clean({"time": time, **({"weekdays": weekdays} if weekdays else {})}, 0, 1)
    return kinds.wait_until_due(params=params, zone=zone, now=now)


# Time zone


def test_a_subscriber_without_a_zone_has_the_sites(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    assert subscriber_zone(SubscriberFactory()) == BERLIN
    assert subscriber_zone(SubscriberFactory(time_zone="America/New_York")) == NEW_YORK


def test_an_unknown_zone_is_refused():
    with pytest.raises(ValidationError, match="not a known time zone"):
        SubscriberFactory(time_zone="Mars/Olympus").full_clean()


def test_the_zone_is_in_the_gdpr_export():
    assert gdpr.subscriber_export(subscriber=SubscriberFactory(time_zone="Asia/Tokyo"))["profile"]["time_zone"] == (
        "Asia/Tokyo"
    )


# Wait until


def test_wait_until_later_today_and_else_tomorrow():
    morning = datetime(2026, 6, 10, 7, 0, tzinfo=BERLIN)
    assert _due("09:30", morning) == datetime(2026, 6, 10, 9, 30, tzinfo=BERLIN)
    assert _due("07:00", morning) == datetime(2026, 6, 11, 7, 0, tzinfo=BERLIN)


def test_wait_until_a_weekday():
    wednesday = datetime(2026, 6, 10, 12, 0, tzinfo=BERLIN)
    assert _due("08:00", wednesday, weekdays=[0]) == datetime(2026, 6, 15, 8, 0, tzinfo=BERLIN)
    assert _due("13:00", wednesday, weekdays=[2, 4]) == datetime(2026, 6, 10, 13, 0, tzinfo=BERLIN)
    assert _due("11:00", wednesday, weekdays=[2]) == datetime(2026, 6, 17, 11, 0, tzinfo=BERLIN)


def test_wait_until_across_the_spring_change_keeps_the_local_time():
    # Berlin goes from +01:00 to +02:00 on 29 March 2026.
    saturday = datetime(2026, 3, 28, 10, 0, tzinfo=BERLIN)
    due = _due("09:00", saturday, weekdays=[0])
    assert due == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    assert due.astimezone(BERLIN).hour == 9


def test_wait_until_a_time_that_does_not_exist_comes_after_the_gap():
    before = datetime(2026, 3, 29, 0, 30, tzinfo=BERLIN)
    due = _due("02:30", before)
    assert due == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert (due.astimezone(BERLIN).hour, due.astimezone(BERLIN).minute) == (3, 30)


def test_wait_until_a_time_that_happens_twice_takes_the_first():
    # Berlin goes back from 03:00 +02:00 to 02:00 +01:00 on 25 October 2026.
    before = datetime(2026, 10, 25, 0, 30, tzinfo=BERLIN)
    assert _due("02:30", before) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_wait_until_in_new_york_across_its_own_change():
    # New York goes forward on 8 March 2026, three weeks before Europe.
    friday = datetime(2026, 3, 6, 12, 0, tzinfo=NEW_YORK)
    assert _due("08:00", friday, zone=NEW_YORK, weekdays=[0]) == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    assert _due("08:00", friday, zone=NEW_YORK, weekdays=[4]) == datetime(2026, 3, 13, 12, 0, tzinfo=UTC)
    gap = datetime(2026, 3, 8, 1, 0, tzinfo=NEW_YORK)
    assert _due("02:15", gap, zone=NEW_YORK) == datetime(2026, 3, 8, 7, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "params",
    [{}, {"time": "9:30"}, {"time": "24:00"}, {"time": "09:30", "weekdays": [7]}, {"time": "09:30", "days": 1}],
)
def test_wait_until_refuses_malformed_params(params):
    with pytest.raises(ValidationError):
        kinds.steps_clean([{"kind": "wait_until", **params}])


def test_the_journey_waits_until_the_time_in_the_subscribers_zone(tag, monkeypatch):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "wait_until", "time": "09:00"}, {"kind": "exit"}])
    reader = SubscriberFactory(time_zone="America/New_York")
    now = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)  # 08:00 in New York
    monkeypatch.setattr(timezone, "now", lambda: now)
    reader.tags.add(tag)
    run_due()
    journey = Journey.objects.get()
    assert journey.step_index == 1
    assert journey.due_at == datetime(2026, 6, 10, 13, 0, tzinfo=UTC)


# Set field


@pytest.fixture
def city(db):
    return CustomField.objects.create(key="city", label_de="Ort", label_en="City")


@pytest.fixture
def score(db):
    return CustomField.objects.create(key="score", label_de="Punkte", label_en="Score", kind="number")


def test_set_field_writes_the_cleaned_value(tag, score):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "set_field", "field": "score", "value": "3,5"}])
    reader = SubscriberFactory(fields={"city": "Köln"})
    reader.tags.add(tag)
    run_due()
    assert Subscriber.objects.get(pk=reader.pk).fields == {"city": "Köln", "score": 3.5}


def test_set_field_with_an_empty_value_clears_it(tag, city):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "set_field", "field": "city", "value": ""}])
    reader = SubscriberFactory(fields={"city": "Köln", "x": 1})
    reader.tags.add(tag)
    run_due()
    assert Subscriber.objects.get(pk=reader.pk).fields == {"x": 1}


def test_set_field_refuses_an_unknown_field_or_a_value_that_does_not_fit(score):
    with pytest.raises(ValidationError, match="no custom field"):
        kinds.steps_clean([{"kind": "set_field", "field": "nope", "value": "1"}])
    with pytest.raises(ValidationError, match="does not fit"):
        kinds.steps_clean([{"kind": "set_field", "field": "score", "value": "viele"}])


def test_set_field_whose_field_was_deleted_or_changed_is_a_problem_and_exits_the_journey(tag, city, score):
    automation = active_automation(
        trigger_params={"tag": tag.pk},
        steps=[
            {"kind": "wait", "days": 1},
            {"kind": "set_field", "field": "city", "value": "Bonn"},
            {"kind": "set_field", "field": "score", "value": "7"},
        ],
    )
    reader = SubscriberFactory()
    reader.tags.add(tag)
    run_due()
    score.choices = [{"value": "high", "label_de": "hoch", "label_en": "high"}]
    CustomField.objects.filter(pk=score.pk).update(kind="choice", choices=score.choices)
    assert any("does not fit" in problem for problem in kinds.steps_problems(automation.steps))
    city.delete()
    assert "Step 1: There is no custom field “city”." in kinds.steps_problems(automation.steps)
    assert kinds.STEPS["set_field"].problems({"field": "city", "value": "Bonn"}) == [
        "The custom field “city” no longer exists."
    ]
    Journey.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    run_due()
    journey = Journey.objects.get()
    assert (journey.status, journey.exited_reason) == (Journey.Status.EXITED, "broken step")
    assert JourneyStepRun.objects.get(step_index=1).status == JourneyStepRun.Status.SKIPPED
    assert Subscriber.objects.get(pk=reader.pk).fields == {}


def test_steps_are_described_in_words(tag, city):
    tag.name = "welcomed"
    tag.save()
    assert kinds.step_describe({"kind": "wait", "days": 2}) == "Wait 2 days"
    assert kinds.step_describe({"kind": "wait", "days": 1, "hours": 3}) == "Wait 1 day, 3 hours"
    assert kinds.step_describe({"kind": "tag_add", "tag": tag.pk}) == "Add the tag “welcomed”"
    assert kinds.step_describe({"kind": "wait_until", "time": "09:00", "weekdays": [0, 4]}) == (
        "Wait until 09:00 on Monday, Friday"
    )
    assert kinds.step_describe({"kind": "set_field", "field": "city", "value": "Bonn"}) == "Set “City” to “Bonn”"
