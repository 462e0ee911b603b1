import json

import pytest
from django.test import Client
from django.utils import timezone

from api.models import IdempotencyKey
from api.services import api_key_create
from subscribers.models import SuppressedAddress, email_hash
from subscribers.tests.factories import SubscriberFactory
from transactional.models import TransactionalMessage
from transactional.services import transactional_message_reads_record, transactional_message_send
from transactional.tests.factories import TransactionalMessageFactory, TransactionalTemplateFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/transactional/"


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def raw_key():
    return api_key_create(name="Shop", scopes=["transactional:send"])[1]


@pytest.fixture
def template():
    return TransactionalTemplateFactory(slug="order", language="de")


def post(client, raw_key, body, **headers):
    return client.post(
        URL, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw_key}", **headers
    )


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def test_a_mail_to_any_address_is_accepted_queued_and_its_status_readable(client, raw_key, template):
    response = post(client, raw_key, {"template": "order", "to": "Buyer@Example.net", "data": {"order_number": "A-1"}})
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["template"], body["language"]) == ("queued", "order", "de")
    message = TransactionalMessage.objects.get()
    assert (message.email, message.data, str(message.public_id)) == (
        "buyer@example.net",
        {"order_number": "A-1"},
        body["id"],
    )
    transactional_message_send(message_id=message.pk)
    status = client.get(f"{URL}{body['id']}", HTTP_AUTHORIZATION=f"Bearer {raw_key}").json()
    assert status["status"] == "sent" and status["sent_at"]


def test_a_subscriber_by_id_gets_the_translation_in_their_language(client, raw_key, template):
    english = TransactionalTemplateFactory(slug="order", language="en", subject="Your order")
    subscriber = SubscriberFactory(language="en")
    response = post(client, raw_key, {"template": "order", "subscriber": str(subscriber.public_id)})
    assert response.status_code == 202
    message = TransactionalMessage.objects.get()
    assert (message.template, message.subscriber, message.email) == (english, subscriber, subscriber.email)
    response = post(client, raw_key, {"template": "order", "subscriber": str(subscriber.public_id), "language": "de"})
    assert response.json()["language"] == "de"
    # A subscriber's address counts as the subscriber.
    response = post(client, raw_key, {"template": "order", "to": subscriber.email})
    assert response.json()["language"] == "en"
    assert TransactionalMessage.objects.filter(subscriber=subscriber).count() == 3


def test_an_idempotency_key_sends_one_mail_however_often_the_request_comes(client, raw_key, template):
    body = {"template": "order", "to": "buyer@example.net", "data": {"total": 12}}
    first = post(client, raw_key, body, HTTP_IDEMPOTENCY_KEY="order-1")
    again = post(client, raw_key, body, HTTP_IDEMPOTENCY_KEY="order-1")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # After the 24-hour answer store forgot the key, the message row still names it.
    IdempotencyKey.objects.all().delete()
    later = post(client, raw_key, body, HTTP_IDEMPOTENCY_KEY="order-1")
    assert later.status_code == 202 and later.json()["id"] == first.json()["id"]
    assert TransactionalMessage.objects.count() == 1


def test_unknown_template_is_a_404_problem_and_stores_nothing(client, raw_key, template):
    assert "nope" in problem(post(client, raw_key, {"template": "nope", "to": "a@example.net"}), 404)["detail"]
    assert not TransactionalMessage.objects.exists()


def test_suppressed_address_is_a_422_problem_without_the_reason(client, raw_key, template):
    SuppressedAddress.objects.create(email_hash=email_hash("gone@example.net"), reason=SuppressedAddress.Reason.ERASED)
    body = problem(
        post(client, raw_key, {"template": "order", "to": "gone@example.net"}, HTTP_IDEMPOTENCY_KEY="k"), 422
    )
    assert "erased" not in json.dumps(body)
    assert not TransactionalMessage.objects.exists() and not IdempotencyKey.objects.exists()
    TransactionalTemplateFactory(slug="reset", is_service_mail=True)
    assert post(client, raw_key, {"template": "reset", "to": "gone@example.net"}).status_code == 202


@pytest.mark.parametrize(
    "body",
    [
        {"template": "order"},
        {"template": "order", "to": "a@example.net", "subscriber": "2f1c9b7e-0000-4000-8000-000000000000"},
        {"template": "order", "to": "not an address"},
        {"template": "order", "to": "a@example.net", "data": {"bad-name": "x"}},
        {"template": "order", "to": "a@example.net", "data": {"nested": {"a": 1}}},
        {"template": "order", "to": "a@example.net", "data": {"flag": True}},
        {"template": "order", "to": "a@example.net", "data": {"long": "x" * 2001}},
        {"template": "order", "to": "a@example.net", "data": {f"k{n}": "x" for n in range(51)}},
        {"template": "order", "to": "a@example.net", "data": {f"k{n}": "x" * 1000 for n in range(17)}},
    ],
)
def test_malformed_requests_are_422_problems(client, raw_key, template, body):
    assert problem(post(client, raw_key, body), 422)["errors"]
    assert not TransactionalMessage.objects.exists()


def test_unknown_subscriber_is_a_422_problem(client, raw_key, template):
    problem(post(client, raw_key, {"template": "order", "subscriber": "2f1c9b7e-0000-4000-8000-000000000000"}), 422)


def test_other_scopes_cannot_send(client, template):
    other = api_key_create(name="CRM", scopes=["subscribers:read"])[1]
    problem(post(client, other, {"template": "order", "to": "a@example.net"}), 403)
    problem(client.post(URL, data="{}", content_type="application/json"), 401)
    message_id = "2f1c9b7e-0000-4000-8000-000000000000"
    problem(client.get(f"{URL}{message_id}", HTTP_AUTHORIZATION=f"Bearer {other}"), 403)


def test_unknown_message_is_a_404_problem(client, raw_key):
    problem(client.get(f"{URL}2f1c9b7e-0000-4000-8000-000000000000", HTTP_AUTHORIZATION=f"Bearer {raw_key}"), 404)


def test_schema_documents_the_endpoints_and_their_problems(client):
    schema = client.get("/api/v1/openapi.json").json()
    send = schema["paths"]["/api/v1/transactional/"]["post"]
    assert {"202", "401", "403", "404", "422", "429"} <= set(send["responses"])
    assert "ProblemOut" in json.dumps(send["responses"]["404"])
    assert "get" in schema["paths"]["/api/v1/transactional/{message_id}"]
    request_schema = schema["components"]["schemas"]["TransactionalSendIn"]
    assert {"template", "to", "subscriber", "data", "language"} <= set(request_schema["properties"])


def test_a_templates_figures_are_read_with_their_own_scope(client, raw_key, template):
    english = TransactionalTemplateFactory(slug="order", language="en")
    now = timezone.now()
    sent = [
        TransactionalMessageFactory(template=used, status="sent", sent_at=now, tracked=tracked)
        for used, tracked in ((template, True), (template, True), (template, False), (english, True))
    ]
    TransactionalMessageFactory(template=template, status="failed")
    transactional_message_reads_record(opened={sent[0].pk: now, sent[3].pk: now}, clicked={sent[0].pk: now})
    transactional_message_reads_record(opened={sent[0].pk: now}, clicked={})  # a second open counts no more
    read_key = api_key_create(name="Reports", scopes=["transactional:read"])[1]

    response = client.get(f"{URL}templates/order/stats", HTTP_AUTHORIZATION=f"Bearer {read_key}")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "template": "order",
        "sent": 4,
        "tracked": 3,
        "unique_opens": 2,
        "unique_clicks": 1,
        "languages": [
            {"language": "de", "sent": 3, "tracked": 2, "unique_opens": 1, "unique_clicks": 1},
            {"language": "en", "sent": 1, "tracked": 1, "unique_opens": 1, "unique_clicks": 0},
        ],
    }
    assert client.get(f"{URL}templates/order/stats", HTTP_AUTHORIZATION=f"Bearer {raw_key}").status_code == 403
    problem(client.get(f"{URL}templates/nothing/stats", HTTP_AUTHORIZATION=f"Bearer {read_key}"), 404)
