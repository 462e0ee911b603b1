"""``POST /api/v1/automations/{id}/enrol``: the automation's own entry rules, and the payload in its mails."""

import pytest

from api.tests.conftest import assert_problem, call, make_key
from automations.models import Automation, Journey
from automations.tests.factories import active_automation, run_due
from campaigns.models import Campaign
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.models import Subscriber
from subscribers.services import gdpr
from subscribers.tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    return make_key(["automations:enrol"])


@pytest.fixture
def order_mail():
    campaign = CampaignFactory(
        name="Bestellt",
        kind=Campaign.Kind.AUTOMATION,
        mailing_lists=[],
        subject="Ihre Bestellung {{ subscriber.payload.order }}",
    )
    ArticleFactory(
        campaign=campaign, headline="Danke für {{ subscriber.payload.total }} Euro", link_url="https://example.org"
    )
    return campaign


@pytest.fixture
def after_order(order_mail):
    return active_automation(trigger_kind="api", steps=[{"kind": "mail", "campaign": order_mail.pk}])


def enrol(client, key, automation, subscriber, payload=None, **headers):
    body = {"subscriber": str(subscriber.public_id), "payload": payload or {}}
    return call(client, "post", f"/api/v1/automations/{automation.pk}/enrol", key, body=body, **headers)


def test_an_enrolled_subscriber_gets_the_mail_with_the_payload(client, key, after_order, order_mail, mailoutbox):
    reader = SubscriberFactory(email="kundin@example.org", status=Subscriber.Status.ACTIVE)
    response = enrol(client, key, after_order, reader, {"order": "4711", "total": 49.9})
    assert response.status_code == 202, response.content
    journey = Journey.objects.get()
    assert response.json()["journey"] == journey.pk
    assert journey.payload == {"order": "4711", "total": 49.9}
    run_due()
    while sending.delivery_batch_send(campaign_id=order_mail.pk).more_to_send:
        pass
    (message,) = mailoutbox
    assert message.to[0].endswith("<kundin@example.org>")
    assert message.subject == "Ihre Bestellung 4711"
    assert "Danke für 49.9 Euro" in message.body
    exported = dict(gdpr.subscriber_export(subscriber=reader))["automation_journeys"]
    assert exported[0]["payload"] == {"order": "4711", "total": 49.9}


def test_the_entry_rules_decide_and_a_refusal_is_a_409_problem(client, key, after_order):
    reader = SubscriberFactory(status=Subscriber.Status.ACTIVE)
    assert enrol(client, key, after_order, reader).status_code == 202
    assert_problem(enrol(client, key, after_order, reader), 409)  # re-entry "never"
    for status in (Subscriber.Status.PENDING, Subscriber.Status.UNSUBSCRIBED):
        assert_problem(enrol(client, key, after_order, SubscriberFactory(status=status)), 409)
    assert Journey.objects.count() == 1


def test_only_active_api_automations_take_enrolments(client, key, after_order, order_mail):
    reader = SubscriberFactory(status=Subscriber.Status.ACTIVE)
    Automation.objects.filter(pk=after_order.pk).update(status=Automation.Status.PAUSED)
    assert_problem(enrol(client, key, after_order, reader), 409)
    tagged = Automation.objects.create(name="Tag", trigger_kind="tag_added", trigger_params={"tag": 1}, steps=[])
    Automation.objects.filter(pk=tagged.pk).update(status=Automation.Status.ACTIVE)
    assert_problem(enrol(client, key, tagged, reader), 409)
    unknown = call(client, "post", "/api/v1/automations/999999/enrol", key, body={"subscriber": str(reader.public_id)})
    assert_problem(unknown, 404)
    Automation.objects.filter(pk=after_order.pk).update(status=Automation.Status.ACTIVE)
    nobody = {"subscriber": "00000000-0000-0000-0000-000000000000"}
    assert_problem(call(client, "post", f"/api/v1/automations/{after_order.pk}/enrol", key, body=nobody), 404)
    assert not Journey.objects.exists()


def test_payload_keys_must_fit_merge_tags_and_the_scope_is_needed(client, key, after_order):
    reader = SubscriberFactory(status=Subscriber.Status.ACTIVE)
    assert_problem(enrol(client, key, after_order, reader, {"not a key": "x"}), 422)
    assert_problem(enrol(client, key, after_order, reader, {"note": "x" * 1001}), 422)
    assert_problem(enrol(client, make_key(), after_order, reader), 403)
    assert not Journey.objects.exists()


def test_a_retry_with_the_same_idempotency_key_replays_the_enrolment(client, key, after_order):
    reader = SubscriberFactory(status=Subscriber.Status.ACTIVE)
    first = enrol(client, key, after_order, reader, {"order": "1"}, HTTP_IDEMPOTENCY_KEY="order-1")
    again = enrol(client, key, after_order, reader, {"order": "1"}, HTTP_IDEMPOTENCY_KEY="order-1")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert Journey.objects.count() == 1
