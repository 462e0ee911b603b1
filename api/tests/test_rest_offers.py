"""``POST /api/v1/offers/redeem``: offers' redemption service, with v1's problems and Idempotency-Key."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api.tests.conftest import assert_problem, call, make_key
from offers.models import Offer, Redemption
from offers.tests.factories import CouponFactory, OfferFactory
from subscribers.tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/offers/redeem"


@pytest.fixture
def key():
    return make_key(["offers:redeem"])


def test_a_code_is_redeemed_once_and_a_replay_gets_the_stored_redemption(client, key):
    coupon = CouponFactory(code="SPRING-AB12")
    body = {"code": "spring-ab12", "order": "1001", "order_value": 49.9, "currency": "eur"}
    first = call(client, "post", URL, key, body=body)
    again = call(client, "post", URL, key, body=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["redemption"] == again.json()["redemption"]
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    assert first.json()["redemption"]["order_value"] == "49.90"
    assert first.json()["redemption"]["currency"] == "EUR"
    redemption = Redemption.objects.get()
    assert (redemption.coupon, redemption.source) == (coupon, "api")


def test_the_same_idempotency_key_replays_the_first_answer(client, key):
    CouponFactory(code="K-1")
    body = {"code": "K-1", "order": "1"}
    first = call(client, "post", URL, key, body=body, HTTP_IDEMPOTENCY_KEY="order-1")
    again = call(client, "post", URL, key, body=body, HTTP_IDEMPOTENCY_KEY="order-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert Redemption.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"code": "NOPE"}, 404, "unknown"),
        ({"code": "USED-1", "order": "2002"}, 409, "redeemed"),
        ({"code": "OLD-1"}, 410, "expired"),
        ({"code": "NEW-1", "order_value": "viel", "currency": "EUR"}, 400, "invalid"),
        ({"code": "SHARED"}, 400, "invalid"),
    ],
)
def test_refusals_are_problems_with_the_services_reason(client, key, body, status, code):
    CouponFactory(code="NEW-1")
    used = CouponFactory(code="USED-1")
    Redemption.objects.create(offer=used.offer, coupon=used, shared=False, order_ref="1001", source="api")
    CouponFactory(code="OLD-1", offer=OfferFactory(expires_at=timezone.now() - timedelta(days=1)))
    CouponFactory(code="SHARED", offer=OfferFactory(code_source=Offer.CodeSource.SHARED))
    problem = assert_problem(call(client, "post", URL, key, body=body), status)
    assert problem["code"] == code
    assert Redemption.objects.count() == 1


def test_wrong_types_are_422_problems_and_the_scope_is_needed(client, key):
    CouponFactory(code="NEW-1")
    assert_problem(call(client, "post", URL, key, body={"code": 42}), 422)
    assert_problem(call(client, "post", URL, key, body={"code": "NEW-1", "offer": "eins"}), 422)
    assert_problem(call(client, "post", URL, make_key(), body={"code": "NEW-1"}), 403)
    assert_problem(call(client, "get", URL, key), 405)
    assert not Redemption.objects.exists()


def test_a_shared_code_is_attributed_to_the_subscriber_by_address(client, key):
    CouponFactory(offer=OfferFactory(code_source=Offer.CodeSource.SHARED), code="SOMMER26")
    reader = SubscriberFactory(email="leserin@example.org")
    answer = call(client, "post", URL, key, body={"code": "SOMMER26", "email": "Leserin@Example.org"})
    assert answer.status_code == 201, answer.content
    assert Redemption.objects.get().subscriber == reader
