import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from audience.tests.factories import SegmentFactory, leaf
from automations.models import Automation, Journey
from automations.tests.factories import active_automation, run_due
from subscribers.tests.factories import SubscriberFactory, TagFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


def _form(automation: Automation, **changes) -> dict:
    data = {
        "name": automation.name,
        "trigger_kind": automation.trigger_kind,
        "trigger_params": json.dumps(automation.trigger_params),
        "entry_segment": "",
        "reentry": automation.reentry,
        "steps": json.dumps(automation.steps),
    }
    return {**data, **changes}


def test_change_page_shows_the_outline_with_counts(admin_client, tag, other_tag):
    automation = active_automation(
        trigger_params={"tag": tag.pk}, steps=[{"kind": "tag_add", "tag": other_tag.pk}, {"kind": "wait", "days": 1}]
    )
    tag.subscribers.add(*SubscriberFactory.create_batch(2))
    run_due()
    response = admin_client.get(reverse("admin:automations_automation_change", args=[automation.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "can be activated" in page
    assert "<strong>0.</strong> Add the tag “welcomed”" in page
    assert (
        '<strong>1.</strong> Wait 1 day<div class="automation-figures">reached: <span data-figure="entered">2</span>'
        ' · waiting here: <span data-figure="waiting">0</span> · exited here: <span data-figure="exited">0</span>'
    ) in page


def test_malformed_steps_are_refused_by_the_form(admin_client, tag):
    automation = Automation.objects.create(name="W", trigger_kind="tag_added", trigger_params={"tag": tag.pk})
    url = reverse("admin:automations_automation_change", args=[automation.pk])
    response = admin_client.post(url, _form(automation, steps=json.dumps([{"kind": "wait"}])))
    assert "Step 0: A wait must last longer than zero." in response.content.decode()
    response = admin_client.post(url, _form(automation, trigger_params="{}"))
    assert "“tag” must be the id of an existing object." in response.content.decode()


def test_editing_an_active_automation_in_the_admin_makes_a_new_version(admin_client, tag, other_tag):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "exit"}])
    url = reverse("admin:automations_automation_change", args=[automation.pk])
    steps = [{"kind": "tag_add", "tag": other_tag.pk}]
    response = admin_client.post(url, _form(automation, steps=json.dumps(steps)))
    assert response.status_code == 302
    assert list(automation.versions.values_list("number", "steps")) == [(2, steps), (1, [{"kind": "exit"}])]


def test_an_active_automation_cannot_be_saved_with_a_broken_reference(admin_client, tag):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "exit"}])
    url = reverse("admin:automations_automation_change", args=[automation.pk])
    response = admin_client.post(url, _form(automation, steps=json.dumps([{"kind": "tag_add", "tag": 999}])))
    assert "Step 0: The tag 999 no longer exists." in response.content.decode()
    assert automation.versions.count() == 1


def test_activate_action_refuses_with_problems_and_activates_without(admin_client, tag):
    gone = TagFactory(name="gone")
    broken = Automation.objects.create(
        name="Broken", trigger_kind="tag_added", trigger_params={"tag": gone.pk}, steps=[]
    )
    fine = Automation.objects.create(name="Fine", trigger_kind="tag_added", trigger_params={"tag": tag.pk}, steps=[])
    gone.delete()
    url = reverse("admin:automations_automation_changelist")
    response = admin_client.post(url, {"action": "activate", "_selected_action": [broken.pk, fine.pk]}, follow=True)
    page = response.content.decode()
    assert "“Broken” cannot be activated:" in page
    assert "“Fine” is active." in page
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert (broken.status, fine.status) == (Automation.Status.DRAFT, Automation.Status.ACTIVE)
    admin_client.post(url, {"action": "pause", "_selected_action": [fine.pk]})
    fine.refresh_from_db()
    assert fine.status == Automation.Status.PAUSED


def test_journeys_are_read_only(admin_client, tag, subscriber):
    active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 1}])
    subscriber.tags.add(tag)
    journey = Journey.objects.get()
    assert admin_client.get(reverse("admin:automations_journey_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:automations_journey_change", args=[journey.pk])).content.decode()
    assert 'name="step_index"' not in page
    assert admin_client.get(reverse("admin:automations_journey_add")).status_code == 403


def test_staff_who_may_only_view_cannot_activate(client, tag):
    from django.contrib.auth.models import Permission, User

    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_automation"))
    client.force_login(viewer)
    automation = Automation.objects.create(name="A", trigger_kind="tag_added", trigger_params={"tag": tag.pk})
    url = reverse("admin:automations_automation_changelist")
    assert client.get(url).status_code == 200
    client.post(url, {"action": "activate", "_selected_action": [automation.pk]})
    automation.refresh_from_db()
    assert automation.status == Automation.Status.DRAFT


def test_the_outline_draws_where_a_branch_leads(admin_client, tag, other_tag):
    segment = SegmentFactory(name="Fans", rules=leaf("tags", tags=[tag.pk]))
    automation = active_automation(
        trigger_params={"tag": tag.pk},
        steps=[{"kind": "branch", "segment": segment.pk, "goto": 2}, {"kind": "exit"}, {"kind": "wait", "days": 2}],
    )
    page = admin_client.get(reverse("admin:automations_automation_change", args=[automation.pk])).content.decode()
    assert "<strong>0.</strong> Branch on the segment “Fans”" in page
    assert "↳ member: go to step 2" in page
    assert '<li id="outline-step-2" class="automation-target"' in page


def test_the_editor_gets_the_kinds_and_each_steps_errors(admin_client, tag):
    automation = Automation.objects.create(name="W", trigger_kind="tag_added", trigger_params={"tag": tag.pk})
    url = reverse("admin:automations_automation_change", args=[automation.pk])
    steps = [{"kind": "exit"}, {"kind": "wait_until", "time": "25:00"}]
    response = admin_client.post(url, _form(automation, steps=json.dumps(steps)))
    editor = response.context["automation_editor"]
    wait_until = next(kind for kind in editor["steps"] if kind["key"] == "wait_until")
    assert [field["type"] for field in wait_until["fields"]] == ["time", "weekdays"]
    tag_added = next(kind for kind in editor["triggers"] if kind["key"] == "tag_added")
    assert tag_added["fields"][0]["choices"] == [(tag.pk, "new")]
    assert response.context["automation_step_errors"] == {"1": ["Give the time of day as HH:MM, e.g. 09:30."]}
    assert 'id="automation-step-errors"' in response.content.decode()


def test_the_list_hides_archived_automations_unless_asked(admin_client, tag):
    Automation.objects.create(name="Running", trigger_kind="tag_added", trigger_params={"tag": tag.pk})
    Automation.objects.create(
        name="Old series", trigger_kind="tag_added", trigger_params={"tag": tag.pk}, status=Automation.Status.ARCHIVED
    )
    url = reverse("admin:automations_automation_changelist")
    page = admin_client.get(url).content.decode()
    assert "Running" in page and "Old series" not in page
    assert "all but archived" in page
    assert "Old series" in admin_client.get(url, {"status": "archived"}).content.decode()
    page = admin_client.get(url, {"status": "every"}).content.decode()
    assert "Running" in page and "Old series" in page


def _archive(client, automation):
    url = reverse("admin:automations_automation_changelist")
    return client.post(url, {"action": "archive", "_selected_action": [automation.pk]}, follow=True)


def test_the_archive_action_ends_the_journeys(admin_client, tag):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 2}])
    tag.subscribers.add(*SubscriberFactory.create_batch(2))
    response = _archive(admin_client, automation)
    assert "“Welcome” is archived; 2 journeys ended." in response.content.decode()
    assert Automation.objects.get().status == Automation.Status.ARCHIVED
    assert set(Journey.objects.values_list("exited_reason", flat=True)) == {"archived"}


def test_archiving_needs_the_change_permission(client, tag):
    automation = active_automation(trigger_params={"tag": tag.pk}, steps=[{"kind": "wait", "days": 2}])
    tag.subscribers.add(SubscriberFactory())
    user = get_user_model().objects.create_user("viewer", "viewer@example.org", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_automation"))
    client.force_login(user)
    _archive(client, automation)
    assert Automation.objects.get().status == Automation.Status.ACTIVE
    assert Journey.objects.get().status == Journey.Status.ACTIVE


def test_the_mail_step_offers_automation_mails_but_not_templates():
    from automations.editor import editor_schema
    from campaigns.tests.factories import CampaignFactory

    mail = CampaignFactory(name="Willkommen", kind="automation", mailing_lists=[])
    CampaignFactory(name="Vorlage: Willkommen", kind="automation", is_template=True, mailing_lists=[])
    mail_step = next(kind for kind in editor_schema()["steps"] if kind["key"] == "mail")
    assert mail_step["fields"][0]["choices"] == [(mail.pk, "Willkommen")]
