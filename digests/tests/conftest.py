"""A real HTTP server on 127.0.0.1 serving feeds (and misbehaving on purpose), in a thread."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FeedServer:
    """Routes: path -> (status, headers, body) or a callable(handler). ``hits`` lists the paths asked for."""

    def __init__(self, port: int, stopping: threading.Event):
        self.port = port
        self.stopping = stopping
        self.routes = {}
        self.hits = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes | str, *, status=200, content_type="application/rss+xml", headers=None):
        body = body.encode() if isinstance(body, str) else body
        self.routes[path] = (
            status,
            {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})},
            body,
        )

    def redirect(self, path: str, location: str, status=302):
        self.routes[path] = (status, {"Location": location, "Content-Length": "0"}, b"")

    def trickle(self, path: str, *, interval: float = 0.2):
        """Headers at once, then one byte every ``interval`` seconds, forever."""

        def respond(handler):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/rss+xml")
            handler.end_headers()
            while not self.stopping.is_set():
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(interval)

        self.routes[path] = respond

    def endless(self, path: str):
        """A body without a length that never ends (until the client stops reading)."""

        def respond(handler):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/rss+xml")
            handler.end_headers()
            chunk = b"<!-- " + b"x" * 65536 + b" -->"
            while not self.stopping.is_set():
                handler.wfile.write(chunk)

        self.routes[path] = respond


@pytest.fixture
def feed_server():
    stopping = threading.Event()
    holder = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            server = holder["server"]
            server.hits.append(self.path)
            route = server.routes.get(self.path)
            try:
                if route is None:
                    self.send_error(404)
                elif callable(route):
                    route(self)
                else:
                    status, headers, body = route
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading, as it should

        def log_message(self, format, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    holder["server"] = FeedServer(httpd.server_address[1], stopping)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield holder["server"]
    stopping.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def loopback_allowed(settings):
    """Only for the local server: the private-address guard lets 127.0.0.1 through, nothing else."""
    settings.KANAL_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
