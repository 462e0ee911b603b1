import json
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone
from openapi_spec_validator import validate

from api.models import IdempotencyKey
from api.services import api_key_create, api_key_revoke
from api.tasks import purge_idempotency_keys
from api.tests.conftest import ALL_SCOPES, assert_problem, call, make_key
from newsletter_site.testing import LeanClient
from subscribers.models import ConfirmationMail, ConsentRecord, Subscriber, Subscription, Tag
from subscribers.services.gdpr import subscriber_erase
from subscribers.tasks import send_confirmation_mail
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_schema_is_served_and_lists_the_endpoints(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/lists/", "/api/v1/subscribers/", "/api/v1/subscribers/{subscriber_id}"} <= set(schema["paths"])
    assert "/api/v1/subscribers/{subscriber_id}/unsubscribe" in schema["paths"]
    assert {"/api/v1/transactional/", "/api/v1/transactional/{message_id}"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]
    sign_up = schema["paths"]["/api/v1/subscribers/"]["post"]
    assert {"202", "401", "403", "422", "429"} <= set(sign_up["responses"])
    assert "ProblemOut" in json.dumps(sign_up["responses"]["422"])


V1_OPERATIONS = {
    ("get", "/api/v1/lists/"),
    ("get", "/api/v1/subscribers/"),
    ("post", "/api/v1/subscribers/"),
    ("get", "/api/v1/subscribers/{subscriber_id}"),
    ("patch", "/api/v1/subscribers/{subscriber_id}"),
    ("post", "/api/v1/subscribers/{subscriber_id}/unsubscribe"),
    ("get", "/api/v1/subscribers/{subscriber_id}/export"),
    ("post", "/api/v1/subscribers/{subscriber_id}/erase"),
    ("get", "/api/v1/segments/"),
    ("get", "/api/v1/segments/{segment_id}/count"),
    ("get", "/api/v1/segments/{segment_id}/members"),
    ("get", "/api/v1/campaigns/"),
    ("get", "/api/v1/campaigns/{campaign_id}"),
    ("get", "/api/v1/campaigns/{campaign_id}/stats"),
    ("get", "/api/v1/surveys/"),
    ("get", "/api/v1/surveys/{survey_id}/responses"),
    ("post", "/api/v1/offers/redeem"),
    ("post", "/api/v1/automations/{automation_id}/enrol"),
    ("post", "/api/v1/transactional/"),
    ("get", "/api/v1/transactional/{message_id}"),
    ("get", "/api/v1/transactional/templates/{slug}/stats"),
}


def test_the_schema_is_valid_openapi_and_every_operation_names_its_key_and_problems(client):
    schema = client.get("/api/v1/openapi.json").json()
    validate(schema)
    operations = {(method, path): op for path, item in schema["paths"].items() for method, op in item.items()}
    assert set(operations) == V1_OPERATIONS
    for (method, path), operation in operations.items():
        assert operation["security"], (method, path)
        assert {"401", "403", "422", "429"} <= set(operation["responses"]), (method, path)
        assert "ProblemOut" in json.dumps(operation["responses"]["403"])
    redeem = operations[("post", "/api/v1/offers/redeem")]
    assert {"200", "201", "404", "409", "410"} <= set(redeem["responses"])


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


def test_a_key_without_the_endpoints_scope_gets_a_403_problem(signup_client):
    raw_key = make_key(scopes=["lists:read"])
    assert call(signup_client, "get", "/api/v1/lists/", raw_key).status_code == 200
    problem = assert_problem(call(signup_client, "get", "/api/v1/subscribers/?email=a@example.org", raw_key), 403)
    assert "subscribers:read" in problem["detail"]
    assert_problem(call(signup_client, "post", "/api/v1/subscribers/", raw_key, body={"email": "a@example.org"}), 403)
    assert not Subscriber.objects.exists()


def test_creating_a_subscriber_starts_double_opt_in_and_confirms_nothing(
    signup_client, raw_key, news, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = call(
            signup_client,
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


def test_creating_a_subscriber_on_an_unknown_list_is_a_422_problem(signup_client, raw_key, news):
    response = call(
        signup_client,
        "post",
        "/api/v1/subscribers/",
        raw_key,
        body={"email": "a@example.org", "lists": ["news", "nope", 999]},
    )
    problem = assert_problem(response, 422)
    assert problem["unknown_lists"] == ["nope", "999"]
    assert not Subscriber.objects.exists()


def test_validation_errors_are_422_problems_without_the_submitted_value(signup_client, raw_key, news):
    response = call(
        signup_client, "post", "/api/v1/subscribers/", raw_key, body={"email": "not-an-address", "lists": []}
    )
    problem = assert_problem(response, 422)
    locations = {tuple(error["loc"][-1:]) for error in problem["errors"]}
    assert {("email",), ("lists",)} <= locations
    assert "not-an-address" not in response.text
    assert_problem(call(signup_client, "get", "/api/v1/lists/?limit=201", raw_key), 422)
    assert_problem(call(signup_client, "get", "/api/v1/subscribers/not-a-uuid", raw_key), 422)
    broken = signup_client.post(
        "/api/v1/subscribers/", "{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw_key}"
    )
    assert_problem(broken, 400)


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
    assert call(client, "get", "/api/v1/subscribers/?email=nobody@example.org", raw_key).json() == {
        "results": [],
        "next": None,
    }
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


SIGN_UP = {"email": "erika@example.org", "first_name": "Erika", "lists": ["news"]}


def test_a_replayed_idempotency_key_returns_the_stored_answer_and_creates_nothing_twice(signup_client, raw_key, news):
    first = call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="order-1")
    Subscriber.objects.update(first_name="Changed meanwhile")
    again = call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="order-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ConfirmationMail.objects.count() == 1
    assert ConsentRecord.objects.count() == 1
    stored = IdempotencyKey.objects.get()
    assert (stored.method, stored.path, stored.response_status) == ("POST", "/api/v1/subscribers/", 202)


def test_the_same_idempotency_key_with_another_body_is_a_422_problem(signup_client, raw_key, news):
    call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="order-1")
    other = {**SIGN_UP, "email": "someone@example.org"}
    response = call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=other, HTTP_IDEMPOTENCY_KEY="order-1")
    assert_problem(response, 422)
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["erika@example.org"]


def test_idempotency_keys_belong_to_one_api_key_and_expire_after_a_day(signup_client, raw_key, news):
    call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="order-1")
    other_shop = call(
        signup_client, "post", "/api/v1/subscribers/", make_key(), body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="order-1"
    )
    assert "Idempotent-Replayed" not in other_shop
    assert IdempotencyKey.objects.count() == 2
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    later = {**SIGN_UP, "email": "later@example.org"}
    response = call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=later, HTTP_IDEMPOTENCY_KEY="order-1")
    assert response.status_code == 202
    assert "Idempotent-Replayed" not in response


def test_a_failed_request_does_not_use_up_its_idempotency_key(signup_client, raw_key, news):
    wrong = {**SIGN_UP, "lists": ["nope"]}
    assert_problem(
        call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=wrong, HTTP_IDEMPOTENCY_KEY="k"), 422
    )
    assert not IdempotencyKey.objects.exists()


def test_patch_takes_an_idempotency_key_too(client, raw_key):
    subscriber = SubscriberFactory()
    url = f"/api/v1/subscribers/{subscriber.public_id}"
    first = call(client, "patch", url, raw_key, body={"tags_add": ["vip"]}, HTTP_IDEMPOTENCY_KEY="p1")
    Tag.objects.all().delete()
    again = call(client, "patch", url, raw_key, body={"tags_add": ["vip"]}, HTTP_IDEMPOTENCY_KEY="p1")
    assert again.json() == first.json()
    assert not Tag.objects.exists(), "the replay did not run the change again"


def test_idempotency_keys_older_than_a_day_are_purged(signup_client, raw_key, news):
    call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="old")
    call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    purge_idempotency_keys()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_erasing_a_subscriber_drops_the_stored_answers_about_them(signup_client, raw_key, news):
    call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="erika")
    other = {**SIGN_UP, "email": "other@example.org"}
    call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=other, HTTP_IDEMPOTENCY_KEY="other")
    subscriber_erase(subscriber=Subscriber.objects.get(email="erika@example.org"))
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["other"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_idempotency_key_execute_once(raw_key, news):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL")
    answers = []
    barrier = threading.Barrier(2)

    def post():
        try:
            barrier.wait()
            answers.append(
                call(Client(), "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="race")
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert ConsentRecord.objects.count() == 1
    assert ConfirmationMail.objects.count() == 1


def test_too_many_requests_per_key_get_a_429_problem_with_retry_after(client, settings):
    settings.KANAL_API_RATE_PER_MINUTE = 3
    raw_key, other_key = make_key(), make_key()
    assert [call(client, "get", "/api/v1/lists/", raw_key).status_code for _ in range(3)] == [200, 200, 200]
    limited = call(client, "get", "/api/v1/lists/", raw_key)
    assert_problem(limited, 429)
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert call(client, "get", "/api/v1/lists/", other_key).status_code == 200, "each key has its own window"


def test_cursor_pagination_walks_all_lists_without_duplicates(client, raw_key):
    MailingListFactory.create_batch(7)
    url, seen, pages = "/api/v1/lists/?limit=3", [], 0
    while url:
        page = call(client, "get", url, raw_key).json()
        seen += [item["id"] for item in page["results"]]
        url, pages = page["next"], pages + 1
    assert pages == 3
    assert sorted(seen) == seen == sorted(set(seen))
    assert len(seen) == 7


def test_a_tampered_cursor_is_a_400_problem(client, raw_key):
    MailingListFactory.create_batch(2)
    next_url = call(client, "get", "/api/v1/lists/?limit=1", raw_key).json()["next"]
    assert_problem(call(client, "get", next_url.replace("cursor=", "cursor=x"), raw_key), 400)


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/lists/42/nope/", "/api/v1/subscribers"])
def test_an_unknown_path_is_a_404_problem(client, raw_key, path):
    problem = assert_problem(call(client, "get", path, raw_key), 404)
    assert "openapi.json" in problem["detail"]
    assert_problem(call(client, "post", path, raw_key, body={}), 404)


def test_an_unknown_method_is_a_405_problem_naming_the_allowed_ones(client, raw_key):
    response = call(client, "delete", "/api/v1/lists/", raw_key)
    problem = assert_problem(response, 405)
    assert response["Allow"] == "GET"
    assert "GET" in problem["detail"]
    subscriber = SubscriberFactory()
    response = call(client, "put", f"/api/v1/subscribers/{subscriber.public_id}", raw_key, body={})
    assert_problem(response, 405)
    assert set(response["Allow"].split(", ")) == {"GET", "PATCH"}


def test_every_scope_an_endpoint_names_is_registered_with_a_label():
    from api import scopes
    from api.rest import auth

    named = {value.scope for value in vars(auth).values() if isinstance(value, auth.ApiKeyBearer)}
    named.add(auth.SUBSCRIBERS_IMPORT)
    assert len(named) == 11
    for scope in named:
        assert str(scopes.SCOPES[scope]), scope


# The sign-up on the lean path (newsletter_site.wsgi) ---------------------------------------------


@pytest.mark.parametrize("kind", ["missing", "made_up", "revoked"])
def test_a_sign_up_without_a_live_key_gets_a_401_problem(signup_client, news, kind):
    raw_key = {"missing": None, "made_up": "kanal_deadbeef_nothing"}.get(kind)
    if kind == "revoked":
        key, raw_key = api_key_create(name="Shop", scopes=ALL_SCOPES)
        api_key_revoke(key=key)
    response = call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP)
    assert assert_problem(response, 401)["title"] == "Unauthorized"
    assert response["WWW-Authenticate"] == 'Bearer realm="kanal"'
    assert not Subscriber.objects.exists()


def test_too_many_sign_ups_per_key_get_a_429_problem(signup_client, news, settings):
    settings.KANAL_API_RATE_PER_MINUTE = 2
    raw_key = make_key()
    bodies = [{**SIGN_UP, "email": f"n{n}@example.org"} for n in range(3)]
    answers = [call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=body) for body in bodies]
    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert Subscriber.objects.count() == 2


def test_the_production_application_answers_a_sign_up_without_the_middleware(raw_key, news, in_english):
    from newsletter_site.wsgi import application

    lean = LeanClient(application)
    response = call(lean, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, secure=True)
    assert response.status_code == 202 and response.json()["email"] == SIGN_UP["email"]
    assert response["X-Content-Type-Options"] == "nosniff"
    # No session, CSRF or clickjacking middleware ran on it.
    assert "Set-Cookie" not in response and "Vary" not in response and "X-Frame-Options" not in response
    german = call(
        lean, "post", "/api/v1/subscribers/", raw_key, body={**SIGN_UP, "lists": ["nope"]}, HTTP_ACCEPT_LANGUAGE="de"
    )
    assert assert_problem(german, 422)["detail"].startswith("Unbekannte")
    # The path's other methods reach Django, with its middleware.
    listing = call(lean, "get", "/api/v1/subscribers/", raw_key)
    assert listing.status_code == 200 and listing["X-Frame-Options"] == "DENY"
    assert_problem(call(lean, "put", "/api/v1/subscribers/", raw_key, body={}), 405)


def test_the_answer_for_a_new_address_on_two_lists_is_what_reading_it_back_gives(signup_client, raw_key, news):
    from api.rest.subscribers import _fresh

    MailingListFactory(slug="deals", language="en")
    body = {**SIGN_UP, "lists": ["news", "deals"]}
    response = call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=body)
    assert response.status_code == 202, response.content
    subscriber = Subscriber.objects.get()
    assert response.json() == _fresh(subscriber)
    assert [item["list"] for item in response.json()["subscriptions"]] == ["deals", "news"]
    assert ConfirmationMail.objects.count() == 2 and ConsentRecord.objects.count() == 2


def test_signing_up_a_known_address_answers_with_its_tags_and_other_lists(signup_client, raw_key, news):
    subscriber = SubscriberFactory(email=SIGN_UP["email"], status=Subscriber.Status.ACTIVE)
    subscriber.tags.add(Tag.objects.create(name="vip"))
    SubscriptionFactory(
        subscriber=subscriber, mailing_list=MailingListFactory(slug="deals"), status=Subscription.Status.ACTIVE
    )
    response = call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP)
    assert response.status_code == 202, response.content
    assert response.json()["tags"] == ["vip"]
    assert response.json()["subscriptions"] == [
        {"list": "deals", "status": "active"},
        {"list": "news", "status": "pending"},
    ]


def test_a_replay_only_reads(signup_client, raw_key, news):
    from django.test.utils import CaptureQueriesContext

    call(signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="order-1")
    with CaptureQueriesContext(connection) as queries:
        again = call(
            signup_client, "post", "/api/v1/subscribers/", raw_key, body=SIGN_UP, HTTP_IDEMPOTENCY_KEY="order-1"
        )
    assert again["Idempotent-Replayed"] == "true"
    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert set(statements) == {"SELECT"}, statements
