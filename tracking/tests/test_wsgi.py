"""The lean WSGI path answers tracking URLs like the Django views and hands everything else to Django."""

import io

import pytest
from django.core.wsgi import get_wsgi_application

from tracking import event_queue, hits, tokens
from tracking.models import Event
from tracking.tests.conftest import BROWSER, path_of, process, queued, urls_for
from tracking.wsgi import TrackingFastPath

pytestmark = pytest.mark.django_db


@pytest.fixture
def application():
    return TrackingFastPath(get_wsgi_application())


def call(
    application,
    path,
    *,
    method="GET",
    user_agent=BROWSER,
    query="",
    host="testserver",
    remote_addr="203.0.113.7",
    forwarded=None,
):
    captured = {}

    def start_response(status, headers):
        captured["status"] = status
        captured["headers"] = dict(headers)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": remote_addr,
        "HTTP_USER_AGENT": user_agent,
        "HTTP_HOST": host,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    body = b"".join(application(environ, start_response))
    return captured["status"], captured["headers"], body


def test_pixel_and_click_on_the_lean_path(application, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)

    status, headers, body = call(application, path_of(pixel))
    assert status == "200 OK" and body == hits.GIF and headers["Content-Type"] == "image/gif"
    assert "no-store" in headers["Cache-Control"]

    status, headers, body = call(application, path_of(click_urls[0]))
    assert status == "302 Found" and headers["Location"] == "https://example.org/eins" and body == b""

    process()
    assert Event.objects.count() == 2


def test_bad_tokens_and_methods_on_the_lean_path_write_nothing(application, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    assert call(application, path_of(pixel)[:-1] + "A")[0] == "404 Not Found"
    assert call(application, path_of(click_urls[0]) + "x")[0] == "404 Not Found"
    assert call(application, "/t/c/" + pixel.rsplit("/", 1)[1])[0] == "404 Not Found"
    assert call(application, path_of(pixel), method="POST")[0] == "405 Method Not Allowed"
    assert queued() == []


def test_head_on_the_lean_path_sends_no_body_and_counts_as_a_machine(application, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    status, headers, body = call(application, path_of(pixel), method="HEAD")
    assert status == "200 OK" and body == b"" and headers["Content-Length"] == "43"
    status, headers, body = call(application, path_of(click_urls[0]), method="HEAD")
    assert status == "302 Found" and body == b""

    process()
    assert sorted(Event.objects.values_list("kind", "is_machine", "machine_reason")) == [
        ("click", True, Event.MachineReason.HEAD),
        ("open", True, Event.MachineReason.HEAD),
    ]


def test_every_changed_character_of_a_token_is_a_404_that_writes_nothing(application, campaign, reader):
    pixel, click_urls = urls_for(campaign, reader)
    for url in (pixel, click_urls[0]):
        path = path_of(url)
        prefix, token = path[:5], path[5:]
        for index, char in enumerate(token):
            for other in {"A", "-", "_"} - {char}:
                forged = prefix + token[:index] + other + token[index + 1 :]
                assert call(application, forged)[0] == "404 Not Found", forged
    assert call(application, "/t/o/")[0] == "404 Not Found"
    assert call(application, path_of(pixel) + "/")[0] == "404 Not Found"
    assert queued() == []


def test_the_lean_redirect_goes_only_to_the_stored_link(application, campaign, reader):
    _pixel, click_urls = urls_for(campaign, reader)
    path = path_of(click_urls[0])

    status, headers, _body = call(
        application, path, query="url=https://evil.example/&next=//evil.example", host="evil.example"
    )

    assert status == "302 Found" and headers["Location"] == "https://example.org/eins"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin", "the reader's webmail address is not passed on"
    for attempt in (path + "/https://evil.example/", path + "//evil.example", "/t/c//evil.example/" + path[5:]):
        status, headers, _body = call(application, attempt)
        assert status == "404 Not Found" and "Location" not in headers


def test_with_redis_down_the_lean_path_stores_the_event_directly(application, campaign, reader, settings):
    settings.KANAL_TRACKING_REDIS_URL = "redis://127.0.0.1:9/0"
    pixel, click_urls = urls_for(campaign, reader)

    assert call(application, path_of(pixel))[0] == "200 OK"
    assert call(application, path_of(click_urls[0]))[1]["Location"] == "https://example.org/eins"
    assert sorted(Event.objects.values_list("kind", flat=True)) == ["click", "open"]


def test_an_error_reply_from_redis_leaves_the_next_hit_a_clean_connection(application, campaign, reader):
    pixel, _links = urls_for(campaign, reader)
    redis_client = event_queue.client(purpose="batcher")
    redis_client.set(event_queue.QUEUE_KEY, "not a list")  # RPUSH answers WRONGTYPE

    assert call(application, path_of(pixel))[0] == "200 OK"
    assert Event.objects.count() == 1, "the event took the slow way into the database"

    redis_client.delete(event_queue.QUEUE_KEY)
    event_queue._breaker["open_until"] = 0.0
    assert call(application, path_of(pixel))[0] == "200 OK"
    assert call(application, path_of(pixel))[0] == "200 OK"
    assert len(queued()) == 2
    assert all(event_queue.parse_line(line) for line in queued())


def test_a_connection_redis_dropped_is_replaced_without_losing_the_fast_path(application, campaign, reader):
    pixel, _links = urls_for(campaign, reader)
    assert call(application, path_of(pixel))[0] == "200 OK"
    # What a Redis restart does to the endpoint's open connection (only that one: Redis may be shared).
    endpoint = event_queue._endpoint.connection
    endpoint.send_command("CLIENT", "ID")
    event_queue.client(purpose="batcher").client_kill_filter(_id=endpoint.read_response())

    assert call(application, path_of(pixel))[0] == "200 OK"

    assert len(queued()) == 2, "the second hit went to Redis on a new connection"
    assert Event.objects.count() == 0 and event_queue._breaker["open_until"] == 0.0


def test_the_production_entry_point_answers_tracking_urls_on_the_lean_path(campaign, reader, monkeypatch):
    from newsletter_site import wsgi

    assert isinstance(wsgi.application, TrackingFastPath)

    def django_must_not_see_this(environ, start_response):
        raise AssertionError(f"Django answered {environ['PATH_INFO']}")

    monkeypatch.setattr(wsgi.application, "application", django_must_not_see_this)
    pixel, _links = urls_for(campaign, reader)

    status, headers, body = call(wsgi.application, path_of(pixel))

    assert status == "200 OK" and body == hits.GIF and headers["Content-Type"] == "image/gif"
    assert len(queued()) == 1


def test_other_paths_go_to_django(application):
    status, _headers, _body = call(application, "/admin/login/")
    assert status.startswith("200")


def queued_ip_hashes() -> list[str]:
    connection = event_queue.client(purpose="batcher")
    return [event_queue.parse_line(line).ip_hash for line in connection.lrange(event_queue.QUEUE_KEY, 0, -1)]


def test_tracking_hashes_the_visitor_not_the_proxy_on_both_paths(settings, client, campaign, reader):
    settings.KANAL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    pixel, _click_urls = urls_for(campaign, reader)

    assert client.get(path_of(pixel), REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.23").status_code == 200
    lean = TrackingFastPath(get_wsgi_application())
    assert call(lean, path_of(pixel), remote_addr="10.0.0.5", forwarded="198.51.100.24")[0] == "200 OK"

    assert queued_ip_hashes() == [tokens.ip_hash("198.51.100.23"), tokens.ip_hash("198.51.100.24")]
