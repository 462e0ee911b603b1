"""What the HTTP benches share: gunicorn started as the Dockerfile starts it, and client processes
that POST bodies over keep-alive connections and time each answer."""

import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchenv import REPO, free_port


def _wait_for_port(port: int, server: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited at start:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gunicorn did not listen on port {port} within {timeout:.0f} s")


@contextlib.contextmanager
def gunicorn_running(*, log: Path, workers: int, worker_class: str, threads: int, conn_max_age: int, env=None):
    """``gunicorn newsletter_site.wsgi`` on a free port, behind a pretend TLS proxy as in production;
    yields the port. This process's database connections are closed first (the fork must not share them)."""
    from django.db import connections

    port = free_port()
    server_env = {
        **os.environ,
        "DATABASE_CONN_MAX_AGE": str(conn_max_age),
        "KANAL_BEHIND_TLS_PROXY": "1",  # as in production: TLS ends at the proxy, which says so
        "DEBUG": "0",
        **(env or {}),
    }
    command = [sys.executable, "-m", "gunicorn", "newsletter_site.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--worker-class", worker_class, "--log-level", "warning"]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    server = subprocess.Popen(command, cwd=REPO, env=server_env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    connections.close_all()
    try:
        _wait_for_port(port, server, log)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def post_all(job: tuple) -> tuple[list[float], int]:
    """One client: POST each of ``requests`` (body, extra headers) to ``path`` over one keep-alive
    connection (re-opened when the server closes it, as gunicorn's sync workers do after every
    answer). Each answer must have ``status`` and, in its JSON, the items of ``expect``.
    Returns the latencies and how many TCP connections were opened again."""
    port, path, headers, requests, status, expect = job
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    base = {"Content-Type": "application/json", "X-Forwarded-Proto": "https", "Connection": "keep-alive", **headers}
    latencies, reconnects = [], 0
    for body, extra in requests:
        begun = time.perf_counter()
        if connection.sock is None:
            reconnects += 1
        connection.request("POST", path, body, base | extra)
        response = connection.getresponse()
        content = response.read()
        latencies.append(time.perf_counter() - begun)
        assert response.status == status, (response.status, content[:500])
        answer = json.loads(content)
        assert all(answer.get(key) == value for key, value in expect.items()), content[:500]
    connection.close()
    return latencies, reconnects


def latency_summary(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"latency median {statistics.median(ordered) * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms"
