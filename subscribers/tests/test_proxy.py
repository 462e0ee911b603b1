"""Sign-ups behind a reverse proxy: consent records and rate limits see the visitor (newsletter_site.client_ip)."""

import time

import pytest
from django.urls import reverse

from subscribers import antispam
from subscribers.models import ConsentRecord

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"


def sign_up(client, mailing_list, *, email, remote_addr=PROXY, forwarded=None):
    started = antispam.form_started_token(now=time.time() - 10)
    data = {"email": email, "first_name": "Erika", "consent": "on", "started": started}
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    url = reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug})
    return client.post(url, data, REMOTE_ADDR=remote_addr, **headers)


def test_consent_record_keeps_the_visitor_behind_a_trusted_proxy(settings, client, mailing_list, consent_text):
    settings.KANAL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert sign_up(client, mailing_list, email="erika@example.org", forwarded="198.51.100.23").status_code == 302
    assert ConsentRecord.objects.get().ip_address == "198.51.100.23"


def test_spoofed_header_without_trusted_proxy_is_ignored(settings, client, mailing_list, consent_text):
    settings.KANAL_TRUSTED_PROXIES = []
    sign_up(client, mailing_list, email="erika@example.org", remote_addr="203.0.113.7", forwarded="198.51.100.23")
    assert ConsentRecord.objects.get().ip_address == "203.0.113.7"


def test_rate_limit_counts_each_visitor_behind_the_proxy_not_the_proxy(settings, client, mailing_list, consent_text):
    settings.KANAL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    settings.KANAL_SIGNUP_RATE_PER_IP = "2/h"
    statuses = [
        sign_up(client, mailing_list, email=f"r{n}@example.org", forwarded=f"198.51.100.{n}").status_code
        for n in range(5)
    ]
    assert statuses == [302] * 5, "five visitors, one sign-up each"
    # One visitor trying again and again is still limited.
    again = [
        sign_up(client, mailing_list, email=f"x{n}@example.org", forwarded="198.51.100.1").status_code for n in range(2)
    ]
    assert again == [302, 429]


def test_sign_up_on_a_unix_socket_is_not_a_server_error(settings, client, mailing_list, consent_text):
    settings.KANAL_TRUSTED_PROXIES = []
    response = sign_up(client, mailing_list, email="erika@example.org", remote_addr="", forwarded="198.51.100.23")
    assert response.status_code == 302
    assert ConsentRecord.objects.get().ip_address is None, "unknown, never the header a stranger may have sent"


def test_sign_up_on_a_unix_socket_behind_a_named_proxy_keeps_the_visitor(settings, client, mailing_list, consent_text):
    settings.KANAL_TRUSTED_PROXIES = ["unix"]
    response = sign_up(client, mailing_list, email="erika@example.org", remote_addr="", forwarded="198.51.100.23")
    assert response.status_code == 302
    assert ConsentRecord.objects.get().ip_address == "198.51.100.23"
