"""Moving running journeys to a newer version, explicitly: the service and its admin page."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from automations import selectors, services
from automations.models import Journey
from automations.tests.factories import active_automation, run_due, runner_holding
from subscribers.models import Subscriber
from subscribers.tests.factories import SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


@pytest.fixture
def two_versions(tag, other_tag):
    """Version 1: wait, add a tag, wait. Version 2: a new first step, then the same three."""
    automation = active_automation(
        trigger_params={"tag": tag.pk},
        steps=[{"kind": "wait", "days": 1}, {"kind": "tag_add", "tag": other_tag.pk}, {"kind": "wait", "days": 2}],
    )
    readers = SubscriberFactory.create_batch(3)
    tag.subscribers.add(*readers)
    run_due()  # all three now wait at step 1 (after the first wait)
    automation.steps = [{"kind": "exit"}, *automation.steps]
    services.automation_save(automation=automation)
    old, new = automation.versions.order_by("number")
    return automation, old, new, readers


def test_the_default_map_finds_the_same_steps_in_the_new_version(two_versions):
    _automation, old, new, _readers = two_versions
    assert selectors.journeys_move_default_map(from_version=old, to_version=new) == {0: 1, 1: 2, 2: 3}


def test_journeys_at_a_mapped_step_move_and_the_others_stay(two_versions):
    automation, old, new, readers = two_versions
    due_before = set(Journey.objects.values_list("due_at", flat=True))
    moved = services.journeys_move(automation=automation, from_version=old, to_version=new, step_map={1: 2})
    assert moved == 3
    assert set(Journey.objects.values_list("version__number", "step_index")) == {(2, 2)}
    assert set(Journey.objects.values_list("due_at", flat=True)) == due_before
    Journey.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    run_due()
    runs = {tuple(journey.step_runs.values_list("version__number", "step_index")) for journey in Journey.objects.all()}
    assert runs == {((1, 0), (2, 2), (2, 3))}
    assert all(
        "welcomed" in Subscriber.objects.get(pk=reader.pk).tags.values_list("name", flat=True) for reader in readers
    )
    assert set(Journey.objects.values_list("step_index", flat=True)) == {4}


def test_moving_to_a_step_index_the_journey_ran_in_its_old_version_runs_it(two_versions):
    automation, old, _new, _readers = two_versions
    automation.steps = automation.steps[1:]  # version 3: the three steps of version 1 again
    services.automation_save(automation=automation)
    third = automation.versions.get(number=3)
    services.journeys_move(automation=automation, from_version=old, to_version=third, step_map={1: 0})
    Journey.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    run_due()
    assert set(Journey.objects.values_list("version__number", "step_index", "attempts")) == {(3, 1, 0)}


def test_journeys_at_an_unmapped_step_stay(two_versions):
    automation, old, new, _readers = two_versions
    assert services.journeys_move(automation=automation, from_version=old, to_version=new, step_map={0: 0}) == 0
    assert set(Journey.objects.values_list("version__number", "step_index")) == {(1, 1)}


@pytest.mark.skipif(
    not connection.features.has_select_for_update_skip_locked,
    reason="SQLite's one writer never lets a move meet a round",
)
@pytest.mark.django_db(transaction=True)
def test_a_journey_a_runner_holds_is_not_moved(two_versions):
    automation, old, new, _readers = two_versions
    Journey.objects.update(due_at=timezone.now() - timedelta(seconds=1))
    held = Journey.objects.order_by("pk").first()
    with runner_holding(held):
        assert services.journeys_move(automation=automation, from_version=old, to_version=new, step_map={1: 2}) == 2
    held.refresh_from_db()
    assert (held.version.number, held.step_index) == (1, 1)


def test_moves_go_only_to_a_newer_version_and_existing_steps(two_versions):
    automation, old, new, _readers = two_versions
    with pytest.raises(ValidationError, match="newer version"):
        services.journeys_move(automation=automation, from_version=new, to_version=old, step_map={1: 1})
    with pytest.raises(ValidationError, match="has no step 9"):
        services.journeys_move(automation=automation, from_version=old, to_version=new, step_map={1: 9})


def test_the_admin_page_previews_then_moves(admin_client, two_versions):
    automation, _old, new, _readers = two_versions
    url = reverse("admin:automations_automation_move_journeys", args=[automation.pk])
    page = admin_client.get(url).content.decode()
    assert "3 journeys wait here." in page
    assert '<option value="2" selected>step 2: Add the tag “welcomed”</option>' in page
    form = {"version": "1", "step_0": "1", "step_1": "2", "step_2": ""}
    page = admin_client.post(url, {**form, "preview": "1"}).content.decode()
    assert "3 journeys will move." in page
    assert Journey.objects.filter(version=new).count() == 0
    response = admin_client.post(url, {**form, "confirm": "1"}, follow=True)
    assert "3 journeys moved." in response.content.decode()
    assert Journey.objects.filter(version=new, step_index=2).count() == 3


def test_the_admin_page_needs_the_change_permission(client, django_user_model, two_versions):
    automation = two_versions[0]
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    client.force_login(user)
    url = reverse("admin:automations_automation_move_journeys", args=[automation.pk])
    assert client.post(url, {"version": "1", "step_1": "2", "confirm": "1"}).status_code == 403
    assert Journey.objects.filter(version__number=2).count() == 0


def test_the_outline_counts_the_newest_version_and_names_the_older_ones_still_running(admin_client, two_versions):
    automation, old, new, _readers = two_versions
    rows = selectors.automation_outline(automation=automation)
    assert [row["step"]["kind"] for row in rows] == ["exit", "wait", "tag_add", "wait"]
    # Version 1's three journeys ran its first wait (index 0), which is the exit step at index 0 now.
    assert [(row["entered"], row["waiting"]) for row in rows] == [(0, 0), (0, 0), (0, 0), (0, 0)]
    assert selectors.older_versions_running(automation=automation) == [(1, 3)]
    page = admin_client.get(reverse("admin:automations_automation_change", args=[automation.pk])).content.decode()
    assert "Version 1: 3 journeys still run there" in page

    services.journeys_move(automation=automation, from_version=old, to_version=new, step_map={1: 2})
    rows = selectors.automation_outline(automation=automation)
    assert rows[2]["waiting"] == 3
    assert selectors.older_versions_running(automation=automation) == []
