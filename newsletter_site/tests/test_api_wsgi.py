"""The lean path for machine endpoints: its own answers when a view fails, everything else to Django."""

import io
import json

import pytest
from django.http import JsonResponse

from newsletter_site.api_wsgi import ApiFastPath

pytestmark = pytest.mark.django_db  # the path closes the connections a request used


def call(application, path, **headers):
    answer = {}
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "443",
        "HTTP_HOST": "testserver",
        "CONTENT_LENGTH": "0",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "https",
        **headers,
    }
    body = b"".join(application(environ, lambda status, headers: answer.update(status=status, headers=dict(headers))))
    return answer["status"], answer["headers"], body


def test_a_failing_view_answers_500_problem_details_and_is_logged(caplog):
    def broken(request):
        raise RuntimeError("boom")

    status, headers, body = call(ApiFastPath(lambda environ, start: [], {"/api/x": broken}), "/api/x")
    assert status == "500 Internal Server Error"
    assert headers["Content-Type"] == "application/problem+json" and json.loads(body)["status"] == 500
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "API endpoint /api/x failed" in caplog.text


def test_other_paths_go_to_the_application_unchanged():
    def django(environ, start_response):
        start_response("204 No Content", [])
        return [b""]

    lean = ApiFastPath(django, {"/api/x": lambda request: JsonResponse({})})
    assert call(lean, "/api/x/more")[0] == "204 No Content"
    assert call(lean, "/api/x")[0] == "200 OK"


def test_a_host_outside_allowed_hosts_goes_to_django_which_refuses_it(settings):
    from django.core.wsgi import get_wsgi_application

    settings.ALLOWED_HOSTS = ["kanal.example"]
    reached = []
    lean = ApiFastPath(get_wsgi_application(), {"/api/x": lambda request: reached.append(1) or JsonResponse({})})
    assert call(lean, "/api/x")[0] == "400 Bad Request"
    assert reached == []


def test_the_500_answer_is_in_the_callers_language():
    def broken(request):
        raise RuntimeError("boom")

    lean = ApiFastPath(lambda environ, start: [], {"/api/x": broken})
    _status, _headers, body = call(lean, "/api/x", HTTP_ACCEPT_LANGUAGE="de")
    assert json.loads(body)["detail"] == "Interner Fehler."
