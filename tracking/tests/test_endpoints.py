"""The pixel and click endpoints: answer at once, redirect only to stored links, write nothing for bad tokens,
and keep working when Redis or the database is away."""

import base64
import random
import string

import pytest
from django.db import OperationalError

from tracking import event_queue, hits, tokens
from tracking.models import Event, TrackedLink
from tracking.services import events as event_services
from tracking.tests.conftest import BROWSER, hit, path_of, process, queued, urls_for

pytestmark = pytest.mark.django_db

CLOSED_PORT_REDIS = "redis://127.0.0.1:9/0"


def test_pixel_answers_a_43_byte_transparent_gif_that_no_one_caches(client, campaign, reader):
    pixel, _links = urls_for(campaign, reader)

    response = hit(client, pixel)

    assert response.status_code == 200
    assert response.content == hits.GIF and len(response.content) == 43
    assert response.content.startswith(b"GIF89a")
    assert response["Content-Type"] == "image/gif"
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert response["Expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert "Set-Cookie" not in response
    assert len(queued()) == 1, "one RPUSH, no database write on the request"
    assert Event.objects.count() == 0


def test_click_redirects_to_the_stored_link_of_the_token(client, campaign, reader):
    _pixel, click_urls = urls_for(campaign, reader)

    response = hit(client, click_urls[0])

    assert response.status_code == 302
    assert response["Location"] == campaign.compiled.links[0].url == "https://example.org/eins"
    assert "no-store" in response["Cache-Control"]
    assert len(queued()) == 1


def test_every_article_link_redirects_to_its_own_target(client, campaign, reader):
    _pixel, click_urls = urls_for(campaign, reader)
    targets = [hit(client, url)["Location"] for url in click_urls]
    assert targets == [link.url for link in campaign.compiled.links]
    assert "mailto:redaktion@example.org" in targets, "mail links work through the redirect as well"


def test_no_open_redirect_whatever_the_request_says(client, campaign, reader):
    _pixel, click_urls = urls_for(campaign, reader)
    path = path_of(click_urls[0])

    for attempt in (
        f"{path}?url=https://evil.example/",
        f"{path}?next=//evil.example/&redirect=https://evil.example/",
    ):
        response = client.get(attempt, HTTP_USER_AGENT=BROWSER, HTTP_REFERER="https://evil.example/")
        assert response["Location"] == "https://example.org/eins"
    assert client.get(f"{path}/https://evil.example/").status_code == 404
    assert client.get(f"{path}//evil.example").status_code == 404


def test_a_stored_link_with_a_dangerous_scheme_is_never_redirected_to(client, campaign, reader):
    link = TrackedLink.objects.create(
        campaign=campaign.campaign,
        article_public_id=campaign.compiled.links[0].article_public_id,
        position=99,
        kind="body",
        url="javascript:alert(document.cookie)",
    )
    response = hit(client, tokens.click_url(delivery_id=reader.pk, link_id=link.pk))
    assert response.status_code == 404
    assert "Location" not in response


def forged_tokens(valid: list[str]) -> list[str]:
    generator = random.Random(7)
    alphabet = string.ascii_letters + string.digits + "-_"
    forged = ["".join(generator.choice(alphabet) for _ in range(length)) for length in (24, 32) for _ in range(40)]
    for token in valid:
        raw = bytearray(base64.urlsafe_b64decode(token))
        for _flip in range(10):
            changed = bytearray(raw)
            changed[generator.randrange(len(raw))] ^= 1 << generator.randrange(8)
            forged.append(base64.urlsafe_b64encode(bytes(changed)).decode())
        forged += [token[:-1], token + "x", token[:12]]
    forged += ["", "A" * 500, "..%2F..%2Fetc%2Fpasswd", "<script>alert(1)</script>", "%00" * 8]
    return forged


def test_forged_bit_flipped_and_truncated_tokens_get_404_and_write_nothing(client, campaign, reader, private_reader):
    pixel, click_urls = urls_for(campaign, reader)
    anonymous_pixel, anonymous_clicks = urls_for(campaign, private_reader)
    valid = [url.rsplit("/", 1)[1] for url in (pixel, *click_urls, anonymous_pixel, *anonymous_clicks)]

    for token in forged_tokens(valid):
        for prefix in ("/t/o/", "/t/c/"):
            response = client.get(prefix + token, HTTP_USER_AGENT=BROWSER)
            assert response.status_code == 404, (prefix, token)
            assert "Location" not in response

    assert queued() == []
    process()
    assert Event.objects.count() == 0


def test_a_token_on_the_other_endpoint_is_not_found(client, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    honeypot = tokens.honeypot_url(delivery_id=reader.pk)
    assert client.get("/t/c/" + pixel.rsplit("/", 1)[1]).status_code == 404
    assert client.get("/t/o/" + click_urls[0].rsplit("/", 1)[1]).status_code == 404
    assert client.get("/t/o/" + honeypot.rsplit("/", 1)[1]).status_code == 404
    assert queued() == []


def test_only_get_and_head_are_answered(client, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    assert client.post(path_of(pixel)).status_code == 405
    assert client.post(path_of(click_urls[0])).status_code == 405
    assert queued() == []


def test_head_requests_answer_like_get_and_are_labelled_machine(client, campaign, reader):
    _pixel, click_urls = urls_for(campaign, reader)
    response = hit(client, click_urls[0], method="head")
    assert response.status_code == 302
    process()
    event = Event.objects.get()
    assert event.is_machine and event.machine_reason == Event.MachineReason.HEAD


def test_honeypot_link_answers_no_content(client, campaign, reader):
    response = hit(client, tokens.honeypot_url(delivery_id=reader.pk))
    assert response.status_code == 204
    assert "Location" not in response
    assert len(queued()) == 1


def test_with_redis_down_the_click_still_redirects_and_the_pixel_still_answers(client, campaign, reader, settings):
    settings.KANAL_TRACKING_REDIS_URL = CLOSED_PORT_REDIS
    pixel, click_urls = urls_for(campaign, reader)

    click = hit(client, click_urls[2])
    open_ = hit(client, pixel)

    assert click.status_code == 302 and click["Location"] == "https://example.org/zwei"
    assert open_.status_code == 200 and open_.content == hits.GIF
    # The events took the slow way straight into the database, so nothing is lost.
    assert sorted(Event.objects.values_list("kind", flat=True)) == ["click", "open"]


def test_with_redis_and_database_down_a_known_link_still_redirects(client, campaign, reader, settings, monkeypatch):
    _pixel, click_urls = urls_for(campaign, reader)
    assert hit(client, click_urls[0]).status_code == 302  # warms this process's link cache
    settings.KANAL_TRACKING_REDIS_URL = CLOSED_PORT_REDIS
    event_queue.link_targets.put(campaign.link_ids[0], "https://example.org/eins")

    def database_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(event_services, "events_ingest", database_down)

    response = hit(client, click_urls[0])
    assert response.status_code == 302 and response["Location"] == "https://example.org/eins"


def test_with_the_database_down_a_cold_process_redirects_from_the_copy_in_redis(client, campaign, reader, monkeypatch):
    _pixel, click_urls = urls_for(campaign, reader)
    event_queue.link_targets.clear()

    class BrokenQuerySet:
        def filter(self, **kwargs):
            raise OperationalError("connection refused")

    monkeypatch.setattr(TrackedLink, "objects", BrokenQuerySet())

    response = hit(client, click_urls[3])
    assert response.status_code == 302 and response["Location"] == "https://example.org/zwei-mehr"
    assert len(queued()) == 1


def test_with_everything_down_an_unknown_link_says_unavailable_not_found(client, campaign, reader, monkeypatch):
    _pixel, click_urls = urls_for(campaign, reader)
    event_queue.client(purpose="batcher").delete(event_queue.LINKS_KEY)

    class BrokenQuerySet:
        def filter(self, **kwargs):
            raise OperationalError("connection refused")

    monkeypatch.setattr(TrackedLink, "objects", BrokenQuerySet())
    assert hit(client, click_urls[0]).status_code == 503


def test_with_redis_and_the_database_down_the_pixel_still_answers(client, campaign, reader, settings, monkeypatch):
    settings.KANAL_TRACKING_REDIS_URL = CLOSED_PORT_REDIS

    def database_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(event_services, "events_ingest", database_down)
    pixel, _links = urls_for(campaign, reader)
    response = hit(client, pixel)
    assert response.status_code == 200 and response.content == hits.GIF
