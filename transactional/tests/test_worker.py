import email
import json
import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from api.services import api_key_create
from newsletter_site.testing import wait_until
from subscribers.tests.factories import SubscriberFactory
from tracking.models import Event
from tracking.tests.conftest import BROWSER, process
from transactional import selectors
from transactional.models import TransactionalMessage
from transactional.services import transactional_message_create
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


def _sent_parts(smtp_sink, address: str, marker: str = "") -> tuple[str, str]:
    """The HTML and text parts of the one mail the sink received for ``address`` whose text
    contains ``marker``, parsed as MIME."""
    found = []
    for recipients, data in smtp_sink.messages:
        parsed = email.message_from_bytes(data)
        parts = {
            part.get_content_type(): part.get_payload(decode=True).decode()
            for part in parsed.walk()
            if not part.is_multipart()
        }
        if recipients == [address] and marker in parts["text/plain"]:
            found.append((parts["text/html"], parts["text/plain"]))
    [parts] = found
    return parts


def _links(html: str, *, hidden: bool = False) -> list[str]:
    """The mail's link targets; ``hidden``: only the one no person sees (the honeypot)."""
    anchors = re.findall(r"<a [^>]*>", html)
    return [
        unescape(re.search(r'href="([^"]+)"', anchor).group(1))
        for anchor in anchors
        if ('aria-hidden="true"' in anchor) == hidden
    ]


def _pixels(html: str) -> list[str]:
    return [unescape(src) for src in re.findall(r'<img src="([^"]*/t/o/[^"]+)"', html)]


def _hit(client, url: str, *, user_agent: str = BROWSER, method: str = "get"):
    return getattr(client, method)(urlsplit(url).path, HTTP_USER_AGENT=user_agent, REMOTE_ADDR="203.0.113.7")


@pytest.mark.worker
def test_a_tracked_mail_from_a_real_worker_counts_people_per_template_and_machines_never(
    smtp_sink, celery_worker_thread
):
    template = TransactionalTemplateFactory(
        slug="order",
        body="Deine Bestellung **{{ data.order_number }}**. Fragen? [Hilfe](https://shop.example/hilfe)",
        link_url="https://shop.example/orders/{{ data.order_number }}",
        cta_text="Bestellung ansehen",
    )
    untracked_template = TransactionalTemplateFactory(
        slug="notice", body="Siehe [Bedingungen](https://shop.example/agb)", track_opens_clicks=False
    )
    reader = SubscriberFactory(email="leser@example.net", tracking_consent=True)
    gateway_reader = SubscriberFactory(email="gateway@example.net", tracking_consent=True)
    private = SubscriberFactory(email="privat@example.net", tracking_consent=False)
    sends = {
        "reader": (template, reader.email, "A-1"),
        "gateway": (template, gateway_reader.email, "A-2"),
        "private": (template, private.email, "A-3"),
        "stranger": (template, "fremd@example.org", "A-4"),
        "untracked": (untracked_template, reader.email, "A-5"),
    }
    messages = {
        name: transactional_message_create(template=used, email=address, data={"order_number": number})
        for name, (used, address, number) in sends.items()
    }
    wait_until(
        lambda: TransactionalMessage.objects.filter(status="sent").count() == len(messages),
        timeout=30,
        interval=0.1,
        message="every mail to be sent",
    )
    client = Client()

    html, text = _sent_parts(smtp_sink, reader.email, "A-1")
    [pixel] = _pixels(html)
    assert pixel.startswith(settings.SITE_URL + "/t/o/")
    links = [link for link in _links(html) if link.startswith(settings.SITE_URL + "/t/c/")]
    assert len(links) == 3  # the headline, the link in the text and the button (the footer's are Kanal's own)
    [honeypot] = _links(html, hidden=True)
    assert honeypot.startswith(settings.SITE_URL + "/t/c/")
    assert "shop.example" not in html and "shop.example" not in text
    # The reader reads a minute after the mail went out: earlier, it would be a scanner.
    TransactionalMessage.objects.filter(pk=messages["reader"].pk).update(sent_at=timezone.now() - timedelta(minutes=1))
    assert _hit(client, pixel).status_code == 200
    assert _hit(client, pixel).status_code == 200  # opened twice: one person, one open
    locations = sorted(_hit(client, link)["Location"] for link in links)
    assert locations == [
        "https://shop.example/hilfe",
        "https://shop.example/orders/A-1",
        "https://shop.example/orders/A-1",
    ]
    assert _hit(client, pixel, user_agent="curl/8.5.0").status_code == 200  # a script: machine
    assert _hit(client, pixel, method="head").status_code == 200  # HEAD: machine

    # A mail gateway fetches the second mail's link seconds after it went out, as a browser would,
    # and its image with its own agent.
    gateway_html, _text = _sent_parts(smtp_sink, gateway_reader.email)
    TransactionalMessage.objects.filter(pk=messages["gateway"].pk).update(sent_at=timezone.now())
    assert _hit(client, _links(gateway_html)[0]).status_code == 302
    assert _hit(client, _pixels(gateway_html)[0], user_agent="Mozilla/5.0 (compatible; Mimecast)").status_code == 200
    process()

    reader_events = Event.objects.filter(message_id=messages["reader"].pk)
    assert sorted(reader_events.values_list("kind", "machine_reason")) == [
        ("click", ""),
        ("click", ""),
        ("click", ""),
        ("open", ""),
        ("open", ""),
        ("open", "head"),
        ("open", "scanner_agent"),
    ]
    gateway_events = Event.objects.filter(message_id=messages["gateway"].pk)
    assert sorted(gateway_events.values_list("kind", "machine_reason")) == [
        ("click", "too_soon"),
        ("open", "scanner_agent"),
    ]
    assert not Event.objects.filter(campaign__isnull=False).exists()
    figures = selectors.template_figures().get(pk=template.pk)
    assert (figures.sent_count, figures.tracked_count, figures.human_opens, figures.human_clicks) == (4, 2, 1, 1)

    # Untracked: the subscriber did not agree, the address is no subscriber, the template says so.
    for address, number, target in (
        (private.email, "A-3", "https://shop.example/hilfe"),
        ("fremd@example.org", "A-4", "https://shop.example/hilfe"),
        (reader.email, "Bedingungen", "https://shop.example/agb"),
    ):
        html, text = _sent_parts(smtp_sink, address, number)
        assert target in _links(html) and target in text
        assert not _pixels(html) and not _links(html, hidden=True) and "/t/" not in html

    # The template's admin page shows the people's figures.
    staff = Client()
    staff.force_login(get_user_model().objects.create_superuser("chefin", "chefin@example.org", "x"))
    response = staff.get(f"/admin/transactional/transactionaltemplate/{template.pk}/change/")
    assert response.status_code == 200
    page = response.content.decode()
    figures_table = re.search(r'<table class="transactional-figures">.*?</table>', page, re.S).group(0)
    assert re.findall(r"<td>(\d+)</td>", figures_table) == ["4", "2", "1", "1"]
