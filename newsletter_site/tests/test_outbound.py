"""``outbound.Poster``: POSTs over one kept-alive connection, the address checked once."""

from http.server import BaseHTTPRequestHandler

import pytest

from newsletter_site import outbound
from newsletter_site.testing import http_server


@pytest.fixture
def server():
    """HTTP/1.1 on 127.0.0.1; the path chooses the answer: /close closes the connection after it,
    /big answers 1 MB. ``server.connections`` counts the connections accepted."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            self.server.connections += 1

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            answer = b"x" * 1_000_000 if self.path == "/big" else b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            if self.path == "/close":
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(answer)

    with http_server(Handler) as httpd:
        httpd.connections = 0
        yield httpd


@pytest.fixture
def loopback_allowed(settings):
    settings.KANAL_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]


def poster(server, path="/hook"):
    return outbound.Poster(f"http://127.0.0.1:{server.server_address[1]}{path}", timeout=5, max_bytes=1024)


def test_many_posts_share_one_connection_and_one_address_check(server, loopback_allowed, monkeypatch):
    checks = []
    check = outbound._checked_address
    monkeypatch.setattr(outbound, "_checked_address", lambda host, port: checks.append(host) or check(host, port))

    with poster(server) as hook:
        answers = [hook.post(body=b"{}", headers={"Content-Type": "application/json"}) for _ in range(20)]

    assert [(answer.status, answer.content) for answer in answers] == [(200, b"ok")] * 20
    assert server.connections == 1 and hook.connections == 1
    assert checks == ["127.0.0.1"]


def test_a_private_address_is_refused_before_connecting(server):
    with poster(server) as hook, pytest.raises(outbound.PrivateAddress):
        hook.post(body=b"{}", headers={})
    assert server.connections == 0


def test_a_connection_the_server_closed_is_opened_again(server, loopback_allowed):
    with poster(server, "/close") as hook:
        answers = [hook.post(body=b"{}", headers={}) for _ in range(3)]
    assert [answer.status for answer in answers] == [200] * 3
    assert server.connections == 3


def test_an_answer_over_the_limit_is_cut_and_its_connection_not_reused(server, loopback_allowed):
    with poster(server, "/big") as hook:
        first = hook.post(body=b"{}", headers={})
        second = hook.post(body=b"{}", headers={})
    assert first.content == second.content == b"x" * 1024
    assert server.connections == 2
