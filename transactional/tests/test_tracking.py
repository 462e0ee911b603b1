"""Tracking of transactional mails through the tracking app: its tokens, endpoints, machine labels
and batcher, figures per template, and consent at the moment of use."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.core import mail
from django.utils import timezone

from subscribers.services.gdpr import subscriber_erase
from subscribers.tests.factories import SubscriberFactory, withdraw_tracking_consent
from tracking import event_queue, tokens
from tracking.models import Event
from tracking.tests.conftest import hit, process, queued
from transactional import selectors
from transactional.models import TransactionalLink, TransactionalMessage
from transactional.services import transactional_message_create, transactional_message_send
from transactional.tests.factories import TransactionalTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def template():
    return TransactionalTemplateFactory(
        body="Bestellung {{ data.order_number }}: [ansehen](https://shop.example/o/{{ data.order_number }})"
    )


def sent_tracked(template, *, consent: bool = True, minutes_ago: int = 5):
    """A message sent through the service, as if it went out ``minutes_ago``; its pixel, visible click
    URLs and honeypot URL from the sent HTML."""
    subscriber = SubscriberFactory(tracking_consent=consent)
    message = transactional_message_create(template=template, email=subscriber.email, data={"order_number": "B-7"})
    transactional_message_send(message_id=message.pk)
    TransactionalMessage.objects.filter(pk=message.pk).update(sent_at=timezone.now() - timedelta(minutes=minutes_ago))
    html = mail.outbox[-1].alternatives[0][0]
    anchors = re.findall(r"<a [^>]*>", html)
    clicks = [unescape(re.search(r'href="([^"]+)"', a).group(1)) for a in anchors if "/t/c/" in a]
    honeypots = [unescape(re.search(r'href="([^"]+)"', a).group(1)) for a in anchors if 'aria-hidden="true"' in a]
    pixels = re.findall(r'<img src="([^"]*/t/o/[^"]+)"', html)
    message.refresh_from_db()
    return message, pixels, [url for url in clicks if url not in honeypots], honeypots


def figures(template):
    row = selectors.template_figures().get(pk=template.pk)
    return row.human_opens, row.human_clicks


def test_a_click_next_to_a_honeypot_hit_is_a_machine_and_counts_nothing(client, template):
    message, _pixels, [click], [honeypot] = sent_tracked(template)

    assert hit(client, honeypot).status_code == 204
    assert hit(client, click).status_code == 302
    process()

    assert sorted(Event.objects.filter(message_id=message.pk).values_list("kind", "machine_reason")) == [
        ("click", "honeypot_burst"),
        ("honeypot", "honeypot"),
    ]
    assert figures(template) == (0, 0)


def test_a_click_within_seconds_of_sending_is_a_scanner(client, template):
    message, _pixels, [click], _honeypots = sent_tracked(template, minutes_ago=0)

    assert hit(client, click)["Location"] == "https://shop.example/o/B-7"
    process()

    assert list(Event.objects.values_list("message_id", "machine_reason")) == [(message.pk, "too_soon")]
    assert figures(template) == (0, 0)


def test_people_count_once_per_message_and_figures_survive_a_withdrawn_consent(client, template):
    message, [pixel], [click], _honeypots = sent_tracked(template)
    _other, [other_pixel], _clicks, _honeypots = sent_tracked(template)
    for url in (pixel, pixel, click, click, other_pixel):
        hit(client, url)
    process()
    assert figures(template) == (2, 1)
    message.refresh_from_db()
    assert message.opened_at is not None and message.clicked_at is not None

    subscriber = message.subscriber
    withdraw_tracking_consent(subscriber)

    message.refresh_from_db()
    assert (message.opened_at, message.clicked_at) == (None, None)
    assert not Event.objects.filter(message_id=message.pk).exists()
    assert figures(template) == (2, 1), "the counters name nobody and stay"
    # The mail's link still leads on, and what it does from now on is not stored.
    assert hit(client, click)["Location"] == "https://shop.example/o/B-7"
    process()
    assert not Event.objects.filter(message_id=message.pk).exists()
    assert figures(template) == (2, 1)


def test_switching_the_template_off_stops_recording_mails_already_sent(client, template):
    _message, [pixel], _clicks, _honeypots = sent_tracked(template)
    template.track_opens_clicks = False
    template.save()

    assert hit(client, pixel).status_code == 200
    process()

    assert not Event.objects.exists()
    assert figures(template) == (0, 0)


def test_erasure_removes_the_link_targets_and_reads(client, template):
    message, [pixel], [click], _honeypots = sent_tracked(template)
    hit(client, pixel)
    process()

    subscriber_erase(subscriber=message.subscriber)

    assert not TransactionalLink.objects.filter(message=message).exists()
    assert not Event.objects.filter(message_id=message.pk).exists()
    assert hit(client, click).status_code == 404
    assert figures(template) == (1, 0)


def test_head_and_get_change_nothing_but_record_an_event(client, template):
    message, [pixel], [click], _honeypots = sent_tracked(template)
    before = TransactionalMessage.objects.values().get(pk=message.pk)

    assert hit(client, click, method="head").status_code == 302
    assert hit(client, pixel, method="head").status_code == 200
    assert client.post(click.removeprefix("http://127.0.0.1:8000")).status_code == 405

    assert TransactionalMessage.objects.values().get(pk=message.pk) == before
    assert len(queued()) == 2
    process()
    assert set(Event.objects.values_list("machine_reason", flat=True)) == {"head"}
    assert figures(template) == (0, 0)


def test_message_tokens_do_only_their_one_job(client, template):
    message, [pixel], [click], [honeypot] = sent_tracked(template)
    pixel_token, click_token = pixel.rsplit("/", 1)[1], click.rsplit("/", 1)[1]

    # A message token passes as no campaign token of the same ids, and no other purpose.
    assert tokens.verify_message_open(pixel_token) == message.pk
    assert tokens.verify_open(pixel_token) is None and tokens.verify_anonymous_open(pixel_token) is None
    assert tokens.verify_message_click(click_token) == (message.pk, 1)
    assert tokens.verify_click(click_token) is None
    assert tokens.verify_message_honeypot(honeypot.rsplit("/", 1)[1]) == message.pk
    assert hit(client, "/t/c/" + pixel_token).status_code == 404  # an open token is no click
    assert hit(client, "/t/o/" + click_token).status_code == 404
    # A signed position the message has no link for leads nowhere and records nothing.
    assert hit(client, tokens.message_click_url(message_id=message.pk, position=9)).status_code == 404
    assert queued() == []


def test_untracked_mails_have_their_own_links_and_no_pixel(template):
    stranger = transactional_message_create(template=template, email="fremd@example.org", data={"order_number": "C"})
    transactional_message_send(message_id=stranger.pk)
    _message, pixels, clicks, honeypots = sent_tracked(template, consent=False)

    for sent in mail.outbox:
        html = sent.alternatives[0][0]
        assert "/t/" not in html and "/t/" not in sent.body
        assert "https://shop.example/o/" in html and "https://shop.example/o/" in sent.body
    assert (pixels, clicks, honeypots) == ([], [], [])
    assert not TransactionalMessage.objects.filter(tracked=True).exists()
    assert not TransactionalLink.objects.exists()


def test_an_event_line_names_a_message_apart_from_deliveries():
    line = event_queue.event_line(
        kind=event_queue.CLICK, message_id=42, link_id=2, head=False, ip_hash="", user_agent="x"
    )
    event = event_queue.parse_line(line)
    assert (event.message_id, event.delivery_id, event.campaign_id, event.link_id) == (42, 0, 0, 2)
    assert event_queue.parse_line(line.replace("\tt42\t", "\tt0\t")) is None
    assert event_queue.parse_line(line.replace("\tt42\t", "\ttx\t")) is None


def test_the_lean_wsgi_path_answers_message_tokens_like_the_views(template):
    """Production answers /t/ without Django's stack (``tracking.wsgi``); message tokens go that way too."""
    from django.core.wsgi import get_wsgi_application

    from tracking.tests.conftest import path_of
    from tracking.tests.test_wsgi import call
    from tracking.wsgi import TrackingFastPath

    application = TrackingFastPath(get_wsgi_application())
    message, [pixel], [click], _honeypots = sent_tracked(template)

    status, headers, _body = call(application, path_of(pixel))
    assert status == "200 OK" and headers["Content-Type"] == "image/gif"
    status, headers, _body = call(application, path_of(click), query="url=https://evil.example/")
    assert status == "302 Found" and headers["Location"] == "https://shop.example/o/B-7"
    forged = path_of(click)[:-1] + ("B" if path_of(click).endswith("A") else "A")
    assert call(application, forged)[0] == "404 Not Found"
    assert call(application, path_of(click), method="POST")[0] == "405 Method Not Allowed"
    process()

    assert sorted(Event.objects.filter(message_id=message.pk).values_list("kind", "is_machine")) == [
        ("click", False),
        ("open", False),
    ]
    assert figures(template) == (1, 1)
