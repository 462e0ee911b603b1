import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import pytest

from newsletter_site.testing import http_server
from webhooks.models import Endpoint


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps connections alive: records each POST, answers
    with ``statuses`` in turn (the last one repeated; 0 drops the connection unanswered), counts
    the connections it accepted."""

    port: int
    statuses: list[int] = field(default_factory=lambda: [200])
    requests: list[dict] = field(default_factory=list)
    connections: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver():
    holder = {}

    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self):
            super().setup()
            with lock:
                holder["receiver"].connections += 1

        def do_POST(self):
            server = holder["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = server.statuses[min(len(server.requests), len(server.statuses)) - 1]
            if status == 0:
                self.close_connection = True
                return
            answer = b'{"ok": true}' if status < 300 else b"receiver broke " + b"x" * 5000
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    with http_server(Handler) as httpd:
        holder["receiver"] = Receiver(port=httpd.server_address[1])
        yield holder["receiver"]


@pytest.fixture
def loopback_allowed(settings):
    """Only for the local receiver: the private-address guard lets 127.0.0.1 through, nothing else."""
    settings.KANAL_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def endpoint(db, receiver):
    return Endpoint.objects.create(url=receiver.url, description="CRM", events=["subscriber.confirmed"])
