"""Start-up checks: the ESP webhooks never run without their secret, proxies are real addresses."""

import pytest
from django.core.checks import run_checks


def errors(**kwargs) -> list[str]:
    return [message.id for message in run_checks(**kwargs) if message.id.startswith("kanal.")]


@pytest.mark.urls("newsletter_site.tests.urls_with_webhooks")
def test_mounted_webhooks_without_secret_stop_the_start(settings):
    settings.ANYMAIL = {}
    assert errors() == ["kanal.E001"]
    settings.ANYMAIL = {"WEBHOOK_SECRET": ["kanal:secret"]}
    assert errors() == []


@pytest.mark.django_db
def test_without_a_secret_the_webhooks_are_not_there(client):
    from django.conf import settings

    assert not settings.ANYMAIL.get("WEBHOOK_SECRET"), "the test environment has no webhook secret"
    response = client.post("/anymail/postmark/tracking/", data="{}", content_type="application/json")
    assert response.status_code == 404


def test_a_trusted_proxy_that_is_no_address_stops_the_start(settings):
    settings.KANAL_TRUSTED_PROXIES = ["10.0.0.0/8", "proxy.internal"]
    assert errors() == ["kanal.E002"]
