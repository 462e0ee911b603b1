"""The lean WSGI path answers tracking URLs like the Django views and hands everything else to Django."""

import io

import pytest
from django.core.wsgi import get_wsgi_application

from tracking import hits
from tracking.models import Event
from tracking.tests.conftest import BROWSER, path_of, process, queued, urls_for
from tracking.wsgi import TrackingFastPath

pytestmark = pytest.mark.django_db


@pytest.fixture
def application():
    return TrackingFastPath(get_wsgi_application())


def call(application, path, *, method="GET", user_agent=BROWSER):
    captured = {}

    def start_response(status, headers):
        captured["status"] = status
        captured["headers"] = dict(headers)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.7",
        "HTTP_USER_AGENT": user_agent,
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
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


def test_head_on_the_lean_path_sends_no_body(application, campaign, reader):
    pixel, _links = urls_for(campaign, reader)
    status, headers, body = call(application, path_of(pixel), method="HEAD")
    assert status == "200 OK" and body == b"" and headers["Content-Length"] == "43"


def test_other_paths_go_to_django(application):
    status, _headers, _body = call(application, "/admin/login/")
    assert status.startswith("200")
