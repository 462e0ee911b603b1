"""``GET /api/v1/subscribers/`` in pages and ``POST /api/v1/subscribers/`` with a documented consent."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from api.tests.conftest import IMPORT_SCOPES, assert_problem, call, make_key
from subscribers.models import ConfirmationMail, ConsentRecord, Subscriber, Subscription, SuppressedAddress, email_hash
from subscribers.services import gdpr
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory, TagFactory

pytestmark = pytest.mark.django_db


def walk(client, url, raw_key) -> list[str]:
    emails = []
    while url:
        page = call(client, "get", url, raw_key)
        assert page.status_code == 200, page.content
        emails += [item["email"] for item in page.json()["results"]]
        url = page.json()["next"]
    return emails


def test_listing_walks_every_subscriber_in_pages_and_keeps_the_filters(client, raw_key, news):
    active = [SubscriberFactory(email=f"a{n}@example.org", status=Subscriber.Status.ACTIVE) for n in range(5)]
    SubscriberFactory(email="pending@example.org", status=Subscriber.Status.PENDING)
    assert len(walk(client, "/api/v1/subscribers/?limit=2", raw_key)) == 6
    first = call(client, "get", "/api/v1/subscribers/?status=active&limit=2", raw_key).json()
    assert "status=active" in first["next"]
    assert walk(client, "/api/v1/subscribers/?status=active&limit=2", raw_key) == [s.email for s in active]


def test_listing_filters_by_list_subscription_status_tag_and_change_time(client, raw_key, news):
    deals = MailingListFactory(slug="deals")
    vip = TagFactory(name="vip")
    on_news = SubscriberFactory(email="news@example.org")
    SubscriptionFactory(subscriber=on_news, mailing_list=news, status=Subscription.Status.ACTIVE)
    left_news = SubscriberFactory(email="left@example.org")
    SubscriptionFactory(subscriber=left_news, mailing_list=news, status=Subscription.Status.UNSUBSCRIBED)
    on_deals = SubscriberFactory(email="deals@example.org")
    SubscriptionFactory(subscriber=on_deals, mailing_list=deals)
    on_deals.tags.add(vip)
    Subscriber.objects.filter(pk=left_news.pk).update(updated_at=timezone.now() - timedelta(days=3))

    assert walk(client, "/api/v1/subscribers/?list=news", raw_key) == ["news@example.org", "left@example.org"]
    url = "/api/v1/subscribers/?list=news&subscription_status=unsubscribed"
    assert walk(client, url, raw_key) == ["left@example.org"]
    assert walk(client, "/api/v1/subscribers/?tag=vip", raw_key) == ["deals@example.org"]
    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+", "%2B")
    assert walk(client, f"/api/v1/subscribers/?list=news&updated_since={since}", raw_key) == ["news@example.org"]
    assert_problem(call(client, "get", "/api/v1/subscribers/?list=nope", raw_key), 422)
    assert_problem(call(client, "get", "/api/v1/subscribers/?subscription_status=active", raw_key), 422)
    assert_problem(call(client, "get", "/api/v1/subscribers/?status=sleeping", raw_key), 422)


DOCUMENTED = {
    "email": "kundin@example.org",
    "first_name": "Erika",
    "lists": ["news"],
    "consent_basis": "documented",
    "consent_source": "Shop customer, UWG § 7(3): order 4711, objection notice in the order mail",
    "consented_at": "2026-11-30T10:00:00+01:00",
}


def test_a_documented_consent_makes_the_subscription_active_without_a_mail(
    signup_client, news, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = call(signup_client, "post", "/api/v1/subscribers/", make_key(IMPORT_SCOPES), body=DOCUMENTED)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "active"
    assert response.json()["subscriptions"] == [{"list": "news", "status": "active"}]
    record = ConsentRecord.objects.get()
    assert record.action == ConsentRecord.Action.IMPORT
    assert record.basis == DOCUMENTED["consent_source"]
    assert record.details["source"] == "api"
    assert record.details["consented_at"] == "2026-11-30T10:00:00+01:00"
    assert not ConfirmationMail.objects.exists()
    assert mail.outbox == []


def test_only_keys_with_the_import_scope_may_skip_double_opt_in(signup_client, raw_key, news):
    problem = assert_problem(call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=DOCUMENTED), 403)
    assert "subscribers:import" in problem["detail"]
    assert not Subscriber.objects.exists()


def test_a_documented_consent_needs_its_source(signup_client, news):
    key = make_key(IMPORT_SCOPES)
    assert_problem(
        call(signup_client, "post", "/api/v1/subscribers/", key, body={**DOCUMENTED, "consent_source": " "}), 422
    )
    plain = {"email": "a@example.org", "lists": ["news"], "consent_source": "order 1"}
    assert_problem(call(signup_client, "post", "/api/v1/subscribers/", key, body=plain), 422)
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    ("situation", "reason"),
    [
        ("suppressed", "suppressed"),
        ("complained", "blocked"),
        ("left_list", "left_list"),
        ("pending", "pending_on_list"),
    ],
)
def test_a_documented_consent_never_overrides_a_refusal(signup_client, news, situation, reason):
    if situation == "suppressed":
        SuppressedAddress.objects.create(email_hash=email_hash(DOCUMENTED["email"]), reason="erased")
    elif situation == "complained":
        SubscriberFactory(email=DOCUMENTED["email"], status=Subscriber.Status.COMPLAINED)
    else:
        subscriber = SubscriberFactory(email=DOCUMENTED["email"], status=Subscriber.Status.ACTIVE)
        status = Subscription.Status.UNSUBSCRIBED if situation == "left_list" else Subscription.Status.PENDING
        SubscriptionFactory(subscriber=subscriber, mailing_list=news, status=status)
    before = list(Subscription.objects.values_list("status", flat=True))
    response = call(signup_client, "post", "/api/v1/subscribers/", make_key(IMPORT_SCOPES), body=DOCUMENTED)
    problem = assert_problem(response, 409)
    assert reason in problem["refused"].values()
    assert list(Subscription.objects.values_list("status", flat=True)) == before
    assert not ConsentRecord.objects.exists()


def test_a_documented_consent_adds_lists_to_a_pending_subscriber_and_activates_them(signup_client, news):
    deals = MailingListFactory(slug="deals")
    subscriber = SubscriberFactory(email=DOCUMENTED["email"], status=Subscriber.Status.PENDING)
    SubscriptionFactory(subscriber=subscriber, mailing_list=deals, status=Subscription.Status.PENDING)
    response = call(signup_client, "post", "/api/v1/subscribers/", make_key(IMPORT_SCOPES), body=DOCUMENTED)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "active"
    assert response.json()["subscriptions"] == [
        {"list": "deals", "status": "pending"},
        {"list": "news", "status": "active"},
    ]
    assert ConsentRecord.objects.get().details["new_subscriber"] is False


def test_the_export_is_the_data_links_export_with_every_apps_section(client, news):
    subscriber = SubscriberFactory(email="erika@example.org", first_name="Erika")
    SubscriptionFactory(subscriber=subscriber, mailing_list=news, status=Subscription.Status.ACTIVE)
    key = make_key(["subscribers:export"])
    response = call(client, "get", f"/api/v1/subscribers/{subscriber.public_id}/export", key)
    assert response.status_code == 200, response.content
    data = response.json()
    expected = json.loads(json.dumps(gdpr.subscriber_export(subscriber=subscriber)))
    assert data.pop("exported_at") and expected.pop("exported_at")
    assert data == expected
    assert data["profile"]["email"] == "erika@example.org"
    assert {"tracking_events", "ab_tests"} <= set(data), "sections registered by other apps"
    assert_problem(call(client, "get", f"/api/v1/subscribers/{subscriber.public_id}/export", make_key()), 403)


def test_erase_deletes_the_subscriber_keeps_the_hash_and_a_retry_with_its_key_replays(client, news):
    subscriber = SubscriberFactory(email="erika@example.org")
    SubscriptionFactory(subscriber=subscriber, mailing_list=news)
    key = make_key(["subscribers:erase"])
    url = f"/api/v1/subscribers/{subscriber.public_id}/erase"
    assert_problem(call(client, "post", url, make_key(), body={}), 403)
    first = call(client, "post", url, key, body={}, HTTP_IDEMPOTENCY_KEY="erase-1")
    assert first.status_code == 200, first.content
    assert first.json() == {"erased": True}
    assert not Subscriber.objects.exists()
    assert SuppressedAddress.objects.filter(email_hash=email_hash("erika@example.org")).exists()
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.ERASE).count() == 1
    again = call(client, "post", url, key, body={}, HTTP_IDEMPOTENCY_KEY="erase-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")
    assert_problem(call(client, "post", url, key, body={}), 404)
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.ERASE).count() == 1
