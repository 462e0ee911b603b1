"""In Chromium: staff build an automation in the step editor, activate it, and watch the outline's
figures change as a real worker runs it and the clock moves two days on."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from audience.tests.factories import SegmentFactory, leaf
from automations import tasks
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
        lambda: Journey.objects.filter(step_index=1, claim="").count() == 2,
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
