import email
import json

import pytest
from django.test import Client

from api.services import api_key_create
from newsletter_site.testing import wait_until
from transactional.models import TransactionalMessage
from transactional.tasks import send_transactional_message
from transactional.tests.factories import TransactionalTemplateFactory


@pytest.mark.worker
def test_a_real_worker_sends_an_api_request_once_to_an_smtp_server(smtp_sink, celery_worker_thread):
    TransactionalTemplateFactory(slug="order")
    raw_key = api_key_create(name="Shop", scopes=["transactional:send"])[1]
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    body = json.dumps({"template": "order", "to": "buyer@example.net", "data": {"order_number": "A-9", "total": 5}})
    for _request in range(2):  # the shop retries its request
        response = client.post(
            "/api/v1/transactional/", data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="order-A-9"
        )
        assert response.status_code == 202, response.content
    message_id = response.json()["id"]

    def status():
        return client.get(f"/api/v1/transactional/{message_id}").json()["status"]

    wait_until(lambda: status() == "sent", timeout=30, interval=0.1, message="the mail to be sent")
    # A re-delivered task message finds the row sent and sends nothing.
    send_transactional_message.delay(TransactionalMessage.objects.get().pk).get(timeout=10)
    [(recipients, data)] = smtp_sink.messages
    assert recipients == ["buyer@example.net"]
    parsed = email.message_from_bytes(data)
    assert parsed["Subject"] == "Deine Bestellung A-9"
    text = next(part for part in parsed.walk() if part.get_content_type() == "text/plain")
    assert "A-9" in text.get_payload(decode=True).decode()
