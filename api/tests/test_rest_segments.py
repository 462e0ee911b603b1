"""``/api/v1/segments/``: list, count and members, as the segment editor computes them."""

import pytest

from api.tests.conftest import assert_problem, call, make_key
from audience.tests.factories import SegmentFactory, any_of, event, leaf
from campaigns.tests.factories import CampaignFactory
from subscribers.tests.factories import SubscriberFactory, TagFactory
from tracking.models import Event
from tracking.tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    return make_key(["segments:read"])


@pytest.fixture
def openers():
    """anna (consent) and dora (no consent) opened, ben (consent) did not, cem (consent) only by a proxy."""
    campaign = CampaignFactory()
    for name, consent in (("anna", True), ("ben", True), ("cem", True), ("dora", False)):
        delivery = DeliveryFactory(
            campaign=campaign, subscriber=SubscriberFactory(email=f"{name}@example.org", tracking_consent=consent)
        )
        if name in ("anna", "dora"):
            event(delivery, Event.Kind.OPEN)
        elif name == "cem":
            event(delivery, Event.Kind.OPEN, machine=True)
    return SegmentFactory(name="Did not open", rules=leaf("not_opened_campaign", campaign=campaign.pk))


def test_segments_are_listed_in_pages_with_their_problems(client, key):
    SegmentFactory(name="Everyone")
    SegmentFactory(name="Broken", rules=leaf("tags", tags=[999999]))
    first = call(client, "get", "/api/v1/segments/?limit=1", key).json()
    second = call(client, "get", first["next"], key).json()
    assert [s["name"] for s in first["results"] + second["results"]] == ["Everyone", "Broken"]
    assert first["results"][0]["problems"] == []
    assert second["results"][0]["problems"]
    assert second["next"] is None


def test_count_and_members_leave_out_people_without_tracking_consent(client, key, openers):
    count = call(client, "get", f"/api/v1/segments/{openers.pk}/count", key)
    assert count.status_code == 200, count.content
    assert count.json() == {"count": 2, "left_out_for_consent": 1, "matches_everyone": False, "total": 4}
    members = call(client, "get", f"/api/v1/segments/{openers.pk}/members?limit=1", key).json()
    emails = [m["email"] for m in members["results"]]
    emails += [m["email"] for m in call(client, "get", members["next"], key).json()["results"]]
    assert emails == ["ben@example.org", "cem@example.org"], "dora's opening is unknown without consent"


def test_members_of_a_segment_by_tag(client, key):
    vip = TagFactory(name="vip")
    anna = SubscriberFactory(email="anna@example.org")
    anna.tags.add(vip)
    SubscriberFactory(email="ben@example.org")
    segment = SegmentFactory(rules=any_of(leaf("tags", tags=[vip.pk])))
    page = call(client, "get", f"/api/v1/segments/{segment.pk}/members", key).json()
    assert [(m["email"], m["tags"]) for m in page["results"]] == [("anna@example.org", ["vip"])]


def test_a_segment_with_broken_rules_is_a_409_problem_and_unknown_ones_404(client, key):
    broken = SegmentFactory(rules=leaf("tags", tags=[999999]))
    problem = assert_problem(call(client, "get", f"/api/v1/segments/{broken.pk}/count", key), 409)
    assert problem["problems"]
    assert_problem(call(client, "get", f"/api/v1/segments/{broken.pk}/members", key), 409)
    assert_problem(call(client, "get", "/api/v1/segments/999999/members", key), 404)


def test_segments_need_their_scope(client, openers):
    assert_problem(call(client, "get", "/api/v1/segments/", make_key()), 403)
    assert_problem(call(client, "get", f"/api/v1/segments/{openers.pk}/members", make_key()), 403)
