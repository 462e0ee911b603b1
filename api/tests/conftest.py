"""Helpers and fixtures the REST API tests share."""

import json

import pytest
from django.test import Client

from api.services import api_key_create
from newsletter_site.testing import LeanClient
from subscribers.tests.factories import ConsentTextFactory, MailingListFactory

ALL_SCOPES = ["lists:read", "subscribers:read", "subscribers:write"]
IMPORT_SCOPES = ["subscribers:write", "subscribers:import", "subscribers:read"]


def make_key(scopes=ALL_SCOPES, **kwargs) -> str:
    return api_key_create(name="Shop", scopes=scopes, **kwargs)[1]


@pytest.fixture
def client():
    """Like a shop's client: no CSRF token, so the check must not apply to key-authenticated calls."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture(params=["django", "lean"])
def signup_client(request, client):
    """For the sign-up tests: ``POST /api/v1/subscribers/`` through Django's test client (the whole
    middleware stack) and through the production WSGI application, where it takes the lean path
    (``newsletter_site.wsgi``); other requests of the test reach Django either way."""
    if request.param == "django":
        return client
    from newsletter_site.wsgi import application

    return LeanClient(application)


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
