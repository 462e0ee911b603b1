import json
from datetime import timedelta

import pytest
from django.utils import timezone

from api.services import api_key_create, api_key_revoke
from newsletter_site.testing import LeanClient
from offers import tokens
from offers.models import Offer, Redemption
from offers.tests.factories import CouponFactory, OfferFactory
from subscribers.tests.factories import SubscriberFactory
from surveys import tokens as survey_tokens

pytestmark = pytest.mark.django_db

REDEEM = "/api/offers/redeem"


# The offer link -----------------------------------------------------------------------------------


def test_the_offer_link_leads_to_the_shop_while_the_offer_runs(client):
    offer = OfferFactory()
    response = client.get(tokens.offer_url(offer_id=offer.pk))
    assert response.status_code == 302
    assert response["Location"] == offer.landing_url


def test_after_the_deadline_the_link_shows_the_offer_ended_with_its_successor(client, in_english):
    successor = OfferFactory(name="Sommerrabatt")
    offer = OfferFactory(expires_at=timezone.now() - timedelta(minutes=1), successor=successor)
    response = client.get(tokens.offer_url(offer_id=offer.pk))
    page = response.content.decode()
    assert response.status_code == 200
    assert "This offer has ended" in page and offer.name in page
    assert "Sommerrabatt" in page and tokens.offer_url(offer_id=successor.pk) in page
    assert offer.landing_url not in page


def test_an_ended_successor_is_not_offered(client, in_english):
    past = timezone.now() - timedelta(days=1)
    offer = OfferFactory(expires_at=past, successor=OfferFactory(name="Winterrabatt", expires_at=past))
    page = client.get(tokens.offer_url(offer_id=offer.pk)).content.decode()
    assert "This offer has ended" in page and "Winterrabatt" not in page


def test_the_offer_link_only_reads(client):
    offer = OfferFactory()
    url = tokens.offer_url(offer_id=offer.pk)
    assert client.post(url).status_code == 405
    assert client.head(url).status_code == 302


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        lambda offer: survey_tokens.make_token(survey_tokens.OPEN, offer.pk, 0 + 1),
        lambda offer: tokens.link_token(offer_id=offer.pk + 1),
    ],
)
def test_links_not_signed_for_an_offer_are_not_found(client, token):
    offer = OfferFactory()
    token = token(offer) if callable(token) else token
    assert client.get("/o/" + token).status_code == 404


# The shop's endpoint ------------------------------------------------------------------------------


@pytest.fixture
def shop_key():
    return api_key_create(name="Shop", scopes=["offers:redeem"])[1]


@pytest.fixture(params=["django", "lean"])
def shop_client(request, client):
    """The endpoint through Django's test client (the whole middleware stack) and through the
    production WSGI application (the lean path): every test of the endpoint runs on both."""
    if request.param == "django":
        return client
    from newsletter_site.wsgi import application

    return LeanClient(application)


def post(client, key, body, **headers):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.post(REDEEM, data, content_type="application/json", **auth, **headers)


def test_the_shop_redeems_a_code_and_a_replay_gets_the_same_answer(shop_client, shop_key):
    coupon = CouponFactory(code="SPRING-AB12")
    SubscriberFactory(email="leserin@example.org")
    body = {"code": "spring-ab12", "order": "1001", "order_value": 49.9, "currency": "EUR"}
    first, again = post(shop_client, shop_key, body), post(shop_client, shop_key, body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["redemption"] == again.json()["redemption"]
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    assert first.json()["redemption"]["order_value"] == "49.90"
    redemption = Redemption.objects.get()
    assert (redemption.coupon, redemption.source) == (coupon, "api")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"code": "NOPE"}, 404, "unknown"),
        ({"code": "USED-1", "order": "2002"}, 409, "redeemed"),
        ({"code": "OLD-1"}, 410, "expired"),
        ({"code": 42}, 400, "invalid"),
        ({"order": "1"}, 400, "invalid"),
        ({"code": "NEW-1", "order_value": "viel", "currency": "EUR"}, 400, "invalid"),
        ({"code": "NEW-1", "offer": "eins"}, 400, "invalid"),
        ("{not json", 400, "invalid"),
        ("[1, 2]", 400, "invalid"),
    ],
)
def test_bad_redemptions_get_a_clear_problem_answer(shop_client, shop_key, body, status, code):
    CouponFactory(code="NEW-1")
    used = CouponFactory(code="USED-1")
    Redemption.objects.create(offer=used.offer, coupon=used, shared=False, order_ref="1001", source="api")
    CouponFactory(code="OLD-1", offer=OfferFactory(expires_at=timezone.now() - timedelta(days=1)))
    response = post(shop_client, shop_key, body)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code and response.json()["detail"]
    assert Redemption.objects.count() == 1


def test_no_or_a_bad_key_gets_401_and_a_key_without_the_scope_403(shop_client, shop_key):
    coupon = CouponFactory()
    other_scope_key = shop_key.replace(shop_key[-4:], "abcd")
    assert post(shop_client, None, {"code": coupon.code}).status_code == 401
    assert post(shop_client, other_scope_key, {"code": coupon.code}).status_code == 401
    key, raw = api_key_create(name="Shop", scopes=["offers:redeem"])
    api_key_revoke(key=key)
    assert post(shop_client, raw, {"code": coupon.code}).status_code == 401
    from api import scopes

    scopes.register("test:other", "other")
    try:
        _key, other = api_key_create(name="Other", scopes=["test:other"])
        assert post(shop_client, other, {"code": coupon.code}).status_code == 403
    finally:
        del scopes.SCOPES["test:other"]
    assert not Redemption.objects.exists()
    assert shop_client.get(REDEEM).status_code == 405


def test_a_shared_code_from_the_shop_needs_an_order_or_address(shop_client, shop_key):
    offer = OfferFactory(code_source=Offer.CodeSource.SHARED)
    CouponFactory(offer=offer, code="SOMMER26")
    reader = SubscriberFactory(email="leserin@example.org")
    assert post(shop_client, shop_key, {"code": "SOMMER26"}).status_code == 400
    answer = post(shop_client, shop_key, {"code": "SOMMER26", "email": "Leserin@Example.org"})
    assert answer.status_code == 200
    assert Redemption.objects.get().subscriber == reader


def test_the_production_application_answers_the_shop_without_session_or_csrf(shop_key, in_english):
    from newsletter_site.wsgi import application

    lean = LeanClient(application)
    coupon = CouponFactory(code="SPRING-AB12")
    answer = post(lean, shop_key, {"code": coupon.code, "order": "1001"}, secure=True)
    assert answer.status_code == 200 and answer.json()["created"] is True
    assert answer["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in answer.headers and "Vary" not in answer.headers  # no session, no CSRF cookie
    unknown = post(lean, shop_key, {"code": "NOPE"}, HTTP_ACCEPT_LANGUAGE="en")
    assert unknown.json()["detail"] == "This code is unknown."
    assert post(lean, shop_key, {"code": "NOPE"}, HTTP_ACCEPT_LANGUAGE="de").json()["detail"] != "This code is unknown."
    assert lean.get("/o/nonsense").status_code == 404  # other paths: Django, unchanged


def test_plain_http_to_the_lean_path_is_redirected_when_the_site_redirects_to_https(settings, shop_key):
    from django.core.wsgi import get_wsgi_application

    from newsletter_site.api_wsgi import ApiFastPath
    from offers.views import redeem

    settings.SECURE_SSL_REDIRECT = True
    lean = LeanClient(ApiFastPath(get_wsgi_application(), {REDEEM: redeem}))
    coupon = CouponFactory()
    assert post(lean, shop_key, {"code": coupon.code}).status_code == 301
    assert not Redemption.objects.exists()
    assert post(lean, shop_key, {"code": coupon.code}, secure=True).status_code == 200
