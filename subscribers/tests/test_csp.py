"""The public pages send a Content-Security-Policy, and their own scripts still run under it."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def policy_of(response) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))


def test_sign_up_page_allows_only_its_own_scripts(client, mailing_list, consent_text):
    policy = policy_of(client.get(reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug})))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"].startswith("'self'") and "unsafe" not in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'self'"


def test_inline_script_of_a_staff_page_carries_the_policy_nonce(mailing_list, consent_text):
    client = Client()
    editor = get_user_model().objects.create_user("editor", password="pw", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="view_mailinglist"))
    client.force_login(editor)
    response = client.get(reverse("subscribers:subscribe_embed_code", kwargs={"slug": mailing_list.slug}))
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}">' in response.text


def test_the_admin_keeps_its_own_inline_scripts(admin_client):
    assert "Content-Security-Policy" not in admin_client.get("/admin/")


@pytest.mark.browser
def test_sign_up_page_with_its_widget_runs_without_policy_violations(
    page, live_server, settings, mailing_list, consent_text
):
    settings.SITE_URL = live_server.url
    settings.KANAL_ALTCHA_HMAC_KEY = "altcha-test-hmac-key"
    violations = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )

    page.goto(f"{live_server.url}/subscribe/{mailing_list.slug}/")
    page.locator("altcha-widget input[type=checkbox]").click(force=True)
    page.wait_for_function("() => (document.querySelector('input[name=altcha]') || {}).value")

    assert violations == []
