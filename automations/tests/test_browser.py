"""In Chromium: staff build an automation in the step editor, activate it, and watch the outline's
figures change as a real worker runs it and the clock moves two days on."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from audience.tests.factories import SegmentFactory, leaf
from automations import kinds, tasks
from automations.models import Automation, Journey
from newsletter_site.testing import wait_until
from subscribers.tests.factories import SubscriberFactory, TagFactory

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _figure(page, step: int, figure: str) -> str:
    return page.locator(f"[data-outline-step='{step}'] [data-figure={figure}]").text_content()


def test_staff_build_an_automation_in_the_editor_and_watch_it_run(page, live_server, celery_worker_thread, monkeypatch):
    new, vip, welcomed = TagFactory(name="new"), TagFactory(name="vip"), TagFactory(name="welcomed")
    vips = SegmentFactory(name="VIPs", rules=leaf("tags", tags=[vip.pk]))
    anna, ben = SubscriberFactory(email="anna@example.org"), SubscriberFactory(email="ben@example.org")
    anna.tags.add(vip)
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", "correct horse battery")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/automations/automation/add/")
    page.locator("#id_username").fill("chefin")
    page.locator("#id_password").fill("correct horse battery")
    page.locator("input[type=submit]").click()
    page.locator("#id_name").fill("Willkommen")
    page.locator("#id_trigger_kind").select_option("tag_added")
    page.locator("[data-trigger-editor] [data-param=tag]").select_option(str(new.pk))

    editor = page.locator("#automation-step-editor")
    editor.locator("[data-add-step]").click()
    editor.locator("[data-step='0'] [data-step-kind]").select_option("wait")
    days = editor.locator("[data-step='0'] [data-param=days]")
    days.fill("2")
    days.dispatch_event("change")
    editor.locator("[data-add-step]").click()
    editor.locator("[data-step='1'] [data-step-kind]").select_option("branch")
    editor.locator("[data-step='1'] [data-param=segment]").select_option(str(vips.pk))
    editor.locator("[data-add-step]").click()
    editor.locator("[data-step='2'] [data-step-kind]").select_option("tag_add")
    editor.locator("[data-step='2'] [data-param=tag]").select_option(str(welcomed.pk))
    editor.locator("[data-step='1'] [data-param=goto]").select_option("3")  # members skip the tag
    page.locator("input[name=_save]").click()
    page.wait_for_url("**/admin/automations/automation/")

    automation = Automation.objects.get()
    assert automation.trigger_params == {"tag": new.pk}
    assert automation.steps == [
        {"kind": "wait", "days": 2},
        {"kind": "branch", "segment": vips.pk, "goto": 3},
        {"kind": "tag_add", "tag": welcomed.pk},
    ]
    page.locator(f"input[name=_selected_action][value='{automation.pk}']").check()
    page.locator("select[name=action]").select_option("activate")
    page.locator("button[name=index]").click()
    page.wait_for_load_state()
    automation.refresh_from_db()
    assert automation.status == Automation.Status.ACTIVE

    new.subscribers.add(anna, ben)  # the trigger; entering queues a tick for the worker
    wait_until(
        lambda: Journey.objects.filter(step_index=1).count() == 2,
        timeout=20,
        message="the worker to start both waits",
    )
    change_url = f"{live_server.url}/admin/automations/automation/{automation.pk}/change/"
    page.goto(change_url)
    assert (_figure(page, 0, "entered"), _figure(page, 1, "waiting"), _figure(page, 2, "entered")) == ("2", "2", "0")

    later = timezone.now() + timedelta(days=2, minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    tasks.tick()  # what beat does, two days on
    wait_until(
        lambda: Journey.objects.filter(status=Journey.Status.FINISHED).count() == 2,
        timeout=20,
        message="the worker to finish both journeys",
    )
    page.goto(change_url)
    assert (_figure(page, 1, "entered"), _figure(page, 1, "waiting"), _figure(page, 2, "entered")) == ("2", "0", "1")
    assert set(ben.tags.values_list("name", flat=True)) == {"new", "welcomed"}
    assert set(anna.tags.values_list("name", flat=True)) == {"new", "vip"}


def test_the_editor_reorders_keeps_branch_targets_and_shows_each_steps_errors(
    page, live_server, transactional_db, monkeypatch
):
    """A kind registered without field descriptions is edited as JSON; the server's message for a
    step appears under that step."""

    def note_clean(params, *_args):
        if set(params) != {"text"}:
            raise ValidationError("A note takes only a text.")
        return params

    monkeypatch.setitem(
        kinds.STEPS, "note", kinds.StepKind("note", "note", note_clean, lambda params: [], lambda *args: None)
    )
    tag, vip = TagFactory(name="new"), TagFactory(name="vip")
    vips = SegmentFactory(name="VIPs", rules=leaf("tags", tags=[vip.pk]))
    automation = Automation.objects.create(
        name="Notiz",
        trigger_kind="tag_added",
        trigger_params={"tag": tag.pk},
        steps=[
            {"kind": "branch", "segment": vips.pk, "goto": 2},
            {"kind": "tag_add", "tag": vip.pk},
            {"kind": "note", "text": "hi"},
        ],
    )
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", "correct horse battery")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/automations/automation/{automation.pk}/change/")
    page.locator("#id_username").fill("chefin")
    page.locator("#id_password").fill("correct horse battery")
    page.locator("input[type=submit]").click()

    editor = page.locator("#automation-step-editor")
    note = editor.locator("[data-step='2'] [data-param-json]")
    assert json.loads(note.input_value()) == {"text": "hi"}
    note.fill('{"text": "bye", "bad": 1}')
    note.dispatch_event("change")
    editor.locator("[data-step='2'] [data-action=up]").click()  # the note goes before the tag step
    assert editor.locator("[data-step='0'] [data-param=goto]").input_value() == "1"  # the branch follows it
    editor.locator("[data-step='2'] [data-action=remove]").click()
    editor.locator("[data-add-step]").click()
    editor.locator("[data-step='2'] [data-step-kind]").select_option("wait_until")
    moment = editor.locator("[data-step='2'] [data-param=time]")
    moment.fill("09:30")
    moment.dispatch_event("change")
    editor.locator("[data-step='2'] [data-weekday='0']").check()
    editor.locator("[data-step='2'] [data-weekday='4']").check()
    page.locator("input[name=_continue]").click()
    page.wait_for_load_state()
    assert editor.locator("[data-step='1'] [data-step-errors]").text_content() == "A note takes only a text."
    assert editor.locator("[data-step='0'] [data-step-errors]").text_content() == ""

    note = editor.locator("[data-step='1'] [data-param-json]")
    note.fill('{"text": "bye"}')
    note.dispatch_event("change")
    page.locator("input[name=_continue]").click()
    page.wait_for_load_state()
    automation.refresh_from_db()
    assert automation.steps == [
        {"kind": "branch", "segment": vips.pk, "goto": 1},
        {"kind": "note", "text": "bye"},
        {"kind": "wait_until", "time": "09:30", "weekdays": [0, 4]},
    ]
