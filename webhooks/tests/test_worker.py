"""End to end through Redis and a real Celery worker: signup confirmed, receiver gets it signed."""

import pytest
from standardwebhooks import Webhook

from newsletter_site.testing import wait_until
from subscribers import tokens
from subscribers.services import optin
from subscribers.tests.factories import MailingListFactory
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.worker


def test_worker_delivers_a_confirmed_signup_and_retries_a_failed_attempt(
    receiver, loopback_allowed, celery_worker_thread
):
    receiver.statuses = [500, 200]
    endpoint = Endpoint.objects.create(url=receiver.url, events=["subscriber.confirmed"])
    outcome = optin.subscriber_subscribe(email="neu@example.org", mailing_list=MailingListFactory(), consent_text=None)
    optin.subscription_confirm(
        token=tokens.make_confirmation_token(
            subscription_id=outcome.subscription.pk, nonce=outcome.subscription.confirmation_nonce
        )
    )

    delivery = Delivery.objects.get()
    wait_until(
        lambda: Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SUCCEEDED).exists(),
        timeout=30,
        interval=0.1,
        message="the delivery to succeed on its second attempt",
    )

    delivery.refresh_from_db()
    assert delivery.attempts == 2
    first, second = receiver.requests
    assert first["body"] == second["body"]
    for request in (first, second):
        payload = Webhook(endpoint.secret).verify(request["body"], request["headers"])
        assert payload["data"]["subscriber"]["email"] == "neu@example.org"
