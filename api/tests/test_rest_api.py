import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from api.services import api_key_create, api_key_revoke
from subscribers.models import ConfirmationMail, ConsentRecord, Subscriber, Subscription, Tag
from subscribers.tasks import send_confirmation_mail
from subscribers.tests.factories import ConsentTextFactory, MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["lists:read", "subscribers:read", "subscribers:write"]


def make_key(scopes=ALL_SCOPES, **kwargs) -> str:
    return api_key_create(name="Shop", scopes=scopes, **kwargs)[1]


@pytest.fixture
def raw_key():
    return make_key()


@pytest.fixture
def news():
    ConsentTextFactory(language="de", text="Ja, ich will den Newsletter.")
    return MailingListFactory(slug="news", name="Kanal News", language="de")


def call(client, method, path, raw_key=None, body=None, **headers):
    if raw_key:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {raw_key}"
    kwargs = {"content_type": "application/json", "data": json.dumps(body)} if body is not None else {}
    return getattr(client, method)(path, **kwargs, **headers)


def assert_problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"] == "about:blank"
    assert problem["title"] and problem["detail"]
    return problem


def test_schema_is_served_and_lists_the_endpoints(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/lists/", "/api/v1/subscribers/", "/api/v1/subscribers/{subscriber_id}"} <= set(schema["paths"])
    assert "/api/v1/subscribers/{subscriber_id}/unsubscribe" in schema["paths"]
    assert schema["components"]["securitySchemes"]


def test_docs_page_uses_swagger_from_this_site_within_the_csp(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "/static/ninja/swagger-ui-bundle.js" in response.text
    assert "cdn" not in response.text.lower()
    assert "<script>" not in response.text, "inline scripts would be blocked by the CSP"


@pytest.mark.parametrize("kind", ["missing", "made_up", "expired", "revoked"])
def test_requests_without_a_live_key_get_a_401_problem(client, kind):
    raw_key = None
    if kind == "made_up":
        raw_key = "kanal_deadbeef_nothing"
    elif kind == "expired":
        raw_key = make_key(expires_at=timezone.now() - timedelta(minutes=1))
    elif kind == "revoked":
        key, raw_key = api_key_create(name="Shop", scopes=ALL_SCOPES)
        api_key_revoke(key=key)
    problem = assert_problem(call(client, "get", "/api/v1/lists/", raw_key), 401)
    assert "WWW-Authenticate" in call(client, "get", "/api/v1/lists/", raw_key)
    assert problem["title"] == "Unauthorized"


def test_a_key_without_the_endpoints_scope_gets_a_403_problem(client):
    raw_key = make_key(scopes=["lists:read"])
    assert call(client, "get", "/api/v1/lists/", raw_key).status_code == 200
    problem = assert_problem(call(client, "get", "/api/v1/subscribers/?email=a@example.org", raw_key), 403)
    assert "subscribers:read" in problem["detail"]
    assert_problem(call(client, "post", "/api/v1/subscribers/", raw_key, body={"email": "a@example.org"}), 403)
    assert not Subscriber.objects.exists()


def test_creating_a_subscriber_starts_double_opt_in_and_confirms_nothing(
    client, raw_key, news, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = call(
            client,
            "post",
            "/api/v1/subscribers/",
            raw_key,
            body={"email": "Erika@Example.org", "first_name": "Erika", "lists": ["news"], "language": "de"},
        )
    assert response.status_code == 202, response.content
    data = response.json()
    subscriber = Subscriber.objects.get()
    assert data["id"] == str(subscriber.public_id)
    assert data["email"] == "erika@example.org"
    assert data["status"] == "pending" == subscriber.status
    assert data["subscriptions"] == [{"list": "news", "status": "pending"}]
    record = ConsentRecord.objects.get()
    assert record.action == ConsentRecord.Action.SIGNUP
    assert record.consent_text_shown == "Ja, ich will den Newsletter."
    assert record.details["source"] == "api"
    assert len(callbacks) == 1, "the confirmation mail is queued after commit, as for the form"
    send_confirmation_mail(ConfirmationMail.objects.get().pk)
    (message,) = mail.outbox
    assert message.to == ["erika@example.org"]
    assert "/confirm/" in message.body
    assert Subscription.objects.get().status == Subscription.Status.PENDING


def test_creating_a_subscriber_on_an_unknown_list_is_a_422_problem(client, raw_key, news):
    response = call(
        client, "post", "/api/v1/subscribers/", raw_key, body={"email": "a@example.org", "lists": ["news", "nope", 999]}
    )
    problem = assert_problem(response, 422)
    assert problem["unknown_lists"] == ["nope", "999"]
    assert not Subscriber.objects.exists()


def test_validation_errors_are_422_problems_without_the_submitted_value(client, raw_key, news):
    response = call(client, "post", "/api/v1/subscribers/", raw_key, body={"email": "not-an-address", "lists": []})
    problem = assert_problem(response, 422)
    locations = {tuple(error["loc"][-1:]) for error in problem["errors"]}
    assert {("email",), ("lists",)} <= locations
    assert "not-an-address" not in response.text
    assert_problem(call(client, "get", "/api/v1/lists/?limit=201", raw_key), 422)
    assert_problem(call(client, "get", "/api/v1/subscribers/not-a-uuid", raw_key), 422)


def test_get_a_subscriber_by_id_and_by_address(client, raw_key, news):
    subscriber = SubscriberFactory(email="erika@example.org", first_name="Erika", status=Subscriber.Status.ACTIVE)
    SubscriptionFactory(subscriber=subscriber, mailing_list=news, status=Subscription.Status.ACTIVE)
    SubscriberFactory(email="other@example.org")
    by_id = call(client, "get", f"/api/v1/subscribers/{subscriber.public_id}", raw_key)
    assert by_id.status_code == 200
    assert by_id.json()["first_name"] == "Erika"
    assert by_id.json()["subscriptions"] == [{"list": "news", "status": "active"}]
    found = call(client, "get", "/api/v1/subscribers/?email=Erika@Example.org", raw_key).json()["results"]
    assert [item["id"] for item in found] == [str(subscriber.public_id)]
    assert call(client, "get", "/api/v1/subscribers/?email=nobody@example.org", raw_key).json() == {"results": []}
    missing = "00000000-0000-0000-0000-000000000000"
    assert_problem(call(client, "get", f"/api/v1/subscribers/{missing}", raw_key), 404)


def test_patch_changes_only_given_fields_and_tags(client, raw_key):
    subscriber = SubscriberFactory(first_name="Erika", last_name="Muster", language="de")
    subscriber.tags.add(Tag.objects.create(name="old"), Tag.objects.create(name="keep"))
    response = call(
        client,
        "patch",
        f"/api/v1/subscribers/{subscriber.public_id}",
        raw_key,
        body={"last_name": "Beispiel", "language": "en", "tags_add": ["vip", "vip"], "tags_remove": ["old", "never"]},
    )
    assert response.status_code == 200, response.content
    assert response.json()["tags"] == ["keep", "vip"]
    subscriber.refresh_from_db()
    assert (subscriber.first_name, subscriber.last_name, subscriber.language) == ("Erika", "Beispiel", "en")
    assert_problem(
        call(client, "patch", f"/api/v1/subscribers/{subscriber.public_id}", raw_key, body={"language": "fr"}), 422
    )


def test_unsubscribe_from_one_list_then_from_all(client, raw_key, news):
    other = MailingListFactory(slug="deals")
    subscriber = SubscriberFactory(status=Subscriber.Status.ACTIVE)
    for mailing_list in (news, other):
        SubscriptionFactory(subscriber=subscriber, mailing_list=mailing_list, status=Subscription.Status.ACTIVE)
    url = f"/api/v1/subscribers/{subscriber.public_id}/unsubscribe"
    one = call(client, "post", url, raw_key, body={"list": "news"})
    assert one.status_code == 200, one.content
    assert one.json()["subscriptions"] == [
        {"list": "deals", "status": "active"},
        {"list": "news", "status": "unsubscribed"},
    ]
    assert one.json()["status"] == "active"
    every = call(client, "post", url, raw_key, body={})
    assert every.status_code == 200, every.content
    assert every.json()["status"] == "unsubscribed"
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.UNSUBSCRIBE).count() == 2
    assert ConsentRecord.objects.filter(details__source="api").count() == 2
