"""Load the open pixel and the click redirect with wrk and print what they take.

    .venv/bin/python bench/tracking_load.py [--duration 10] [--runs 3] [--connections 16]
        [--workers 3] [--worker-class sync] [--threads 1] [--deliveries 50000] [--access-log]

What runs, all on this machine, the load generator in a second process on loopback:

* **Kanal**: gunicorn serving ``newsletter_site.wsgi`` exactly as in production (the lean
  ``TrackingFastPath`` answers ``/t/o/…`` and ``/t/c/…``), events to Redis, the batcher after.
* **Peer design**: the same gunicorn serving a plain Django view behind the project's full
  middleware stack that checks the same token and INSERTs one row per hit
  (``bench/tracking_peer/``).
* **Bare WSGI**: the same gunicorn serving a framework-free WSGI callable that answers every
  request with the same GIF and headers (``bench/tracking_peer/bare_wsgi.py``): the floor of what
  a pixel costs under gunicorn. Kanal's server CPU per hit (and with the embedded Redis's) is
  printed against it; target: within 1.5x.
* **nginx** (Debian's package) serving a static 43-byte GIF: the ceiling for this machine.

Every request carries a different valid token of a real delivery (or delivery and link), read
by a wrk Lua script from a file this bench writes. Each run measures the four targets one after
the other for ``--duration`` seconds (Kanal's pixel, the peer, Kanal's click, nginx); ratios are
taken within a run, figures are medians over the runs. Next to req/s and wrk's p50/p99 each line
shows the CPU that the server, the embedded Redis and wrk spent per request (from /proc; not
PostgreSQL's, nor a Redis at ``REDIS_URL``): on a machine that other work shares, that figure
moves much less than req/s, so both ratios are printed both ways, with the load average.

Every gunicorn worker counts the answers it sent by status (a ``post_request`` hook). After the
runs the batcher moves the events from Redis into the database (its store step timed on its own,
then ``tracking.services.events.events_process`` until every event is counted), and the bench
prints the stored events next to the accepted hits (every 200 and 302 Kanal answered) and the
peer's rows next to its 200s; it exits with 1 if they differ.

Server setup: what the Dockerfile and docker-compose.yml run, gunicorn ``newsletter_site.wsgi``
with 3 sync workers, without their access log (``--access-log`` adds one). Sync workers suit
these endpoints: a hit is ~150 µs of CPU in the worker and waits only on one Redis round trip on
a local socket, so threads add nothing but GIL hand-offs (gthread measured ~30% more server CPU
per hit here and a higher p99), and 2, 3 and 4 workers measured within noise of each other on 2
cores. A sync worker closes the connection after each answer, so wrk connects once per request.
Both gunicorns keep their database connections (``DATABASE_CONN_MAX_AGE=60``), so the peer does
not pay a new connection per hit. ``--workers``, ``--worker-class`` and ``--threads`` measure
other setups with the same bench.

State lives in var/bench/tracking/: SQLite there by default, or a database named
``kanal_bench_tracking`` next to the one in ``DATABASE_URL`` (PostgreSQL); the embedded Redis
unless ``REDIS_URL`` is set (then only the tracking keys in it are cleared: give the bench a
Redis database no Celery beat drains). wrk and nginx come from Debian's packages: run as root,
the bench installs the missing ones with apt-get.

Targets (2 cores, load generator included): >= 5,000 pixel hits/s with p99 < 20 ms, every
accepted event in the database, >= 2x the one-INSERT-per-hit view, server CPU per pixel hit
within 1.5x the bare WSGI app's, and a batcher that stores and counts at least as many events
per second as the pixel answered at its peak (the best run).
"""

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from benchenv import free_port, say

REPO = Path(__file__).resolve().parent.parent
BENCH_SOURCES = REPO / "bench"
BENCH_DIR = REPO / "var" / "bench" / "tracking"
PG_DATABASE = "kanal_bench_tracking"
BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)
LINKS_PER_CAMPAIGN = 5
PEER, NGINX, BARE = "one-INSERT view", "nginx static GIF", "bare WSGI GIF"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Each wrk thread walks the list of paths from its own offset; one request, one token. The
# summary comes from done() so nothing depends on the layout of wrk's human-readable output.
WRK_SCRIPT = """
local paths = {}
local index = 0
local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  index = (thread_number or 0) * 7919
  wrk.headers["User-Agent"] = args[2]
end

function request()
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d\\n",
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status,
    errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""

# gunicorn config: each worker counts its answers by status and leaves them in a file on exit.
GUNICORN_CONFIG = """
import collections
import json
import os
import threading

_answers = collections.Counter()
_lock = threading.Lock()


def post_request(worker, req, environ, resp):
    with _lock:
        _answers[resp.status_code] += 1


def worker_exit(server, worker):
    path = os.path.join(os.environ["KANAL_BENCH_ANSWERS"], f"{os.getpid()}.json")
    with open(path, "w") as out:
        json.dump(_answers, out)
"""

NGINX_CONFIG = """
worker_processes {workers};
pid {root}/nginx.pid;
error_log stderr warn;
user root;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    open_file_cache max=10;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            root {root};
            default_type image/gif;
            add_header Cache-Control "no-store, no-cache, must-revalidate, max-age=0, private";
            try_files /pixel.gif =404;
        }}
    }}
}}
"""


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# --- tools and environment -------------------------------------------------------------------


def require_tools() -> None:
    """wrk and nginx from Debian's packages: installed when missing and running as root."""
    missing = [package for command, package in (("wrk", "wrk"), ("nginx", "nginx-light")) if not _which(command)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(
            f"This bench needs {' and '.join(missing)} from Debian's packages: "
            f"run `apt-get install -y {' '.join(missing)}` as root, or run the bench as root."
        )
    say(f"installing {' '.join(missing)} with apt-get")
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(install, stdout=subprocess.DEVNULL, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], stdout=subprocess.DEVNULL, check=True)
        subprocess.run(install, stdout=subprocess.DEVNULL, check=True)
    if not all(_which(command) for command in ("wrk", "nginx")):
        raise SystemExit("apt-get ran, but wrk or nginx is still not on PATH.")


def _which(command: str) -> str | None:
    return shutil.which(command) or shutil.which(command, path="/usr/sbin:/usr/bin:/sbin:/bin")


def configure_environment() -> None:
    """The bench database and var directory for this process and the servers it starts."""
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    env = {
        "KANAL_VAR_DIR": str(BENCH_DIR),
        "SITE_URL": "https://news.example.com",
        "DATABASE_CONN_MAX_AGE": "60",
        "DEBUG": "0",
        # wrk speaks plain http to gunicorn; an https SITE_URL would otherwise redirect the peer.
        "KANAL_SSL_REDIRECT": "0",
        # Every hit comes from 127.0.0.1: the per-address limit would drop nearly all of them.
        "KANAL_TRACKING_RATE_PER_IP_PER_MINUTE": "0",
    }
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        env["DATABASE_URL"] = re.sub(r"/[^/]*$", f"/{PG_DATABASE}", url)
        _create_postgres_database(url)
    else:
        database = BENCH_DIR / "bench.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{database}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    os.environ.update(env)
    # A superset of the project's settings: the peer's table is created and counted from here too.
    os.environ["DJANGO_SETTINGS_MODULE"] = "tracking_peer.settings"


def _create_postgres_database(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {PG_DATABASE}")


def setup_django() -> int | None:
    """Django with a migrated bench database and empty tracking keys; the embedded Redis's pid, if any."""
    sys.path[:0] = [str(REPO), str(BENCH_SOURCES)]
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from tracking import event_queue

    redis_pid = None
    if settings.REDIS_EMBEDDED:
        from newsletter_site import redis_server

        redis_server.ensure_running(settings.REDIS_SOCKET)
        redis_pid = int((settings.REDIS_SOCKET.parent / "redis.pid").read_text())
    call_command("migrate", run_syncdb=True, verbosity=0)
    event_queue.client(purpose="batcher").delete(
        event_queue.QUEUE_KEY, event_queue.PROCESSING_KEY, event_queue.LOCK_KEY, event_queue.LINKS_KEY
    )
    return redis_pid


def stop_embedded_redis() -> None:
    from django.conf import settings

    from tracking import event_queue

    if settings.REDIS_EMBEDDED:
        with contextlib.suppress(Exception):  # it is gone once SHUTDOWN succeeds
            event_queue.client(purpose="batcher").shutdown(nosave=True)


# --- data --------------------------------------------------------------------------------------


def create_deliveries(count: int) -> tuple[list[str], list[str]]:
    """A sent campaign with ``count`` deliveries to readers who agreed to tracking; their paths."""
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from campaigns.models import Campaign, Delivery
    from newsletter_site.bulk import insert_rows
    from subscribers.tests.factories import bulk_active_subscribers
    from tracking import event_queue, tokens
    from tracking.models import TrackedLink

    sent_at = timezone.now() - timedelta(hours=1)
    campaign = Campaign.objects.create(
        name="Bench", subject="Neues", status="sent", started_at=sent_at, finished_at=sent_at
    )
    subscriber_ids = bulk_active_subscribers(
        emails=[f"r{n}@example.org" for n in range(count)], tracking_consent=True, at=sent_at
    )
    insert_rows(
        Delivery,
        columns=("subscriber",),
        rows=[(pk,) for pk in subscriber_ids],
        constants={
            "campaign": campaign.pk,
            "status": "sent",
            "claim": "",
            "claimed_at": None,
            "attempts": 1,
            "sent_at": sent_at,
            "esp_message_id": "",
            "error": "",
            "occurrence": 0,
        },
    )
    links = TrackedLink.objects.bulk_create(
        TrackedLink(
            campaign=campaign,
            article_public_id=uuid.uuid4(),
            position=0,
            kind=TrackedLink.Kind.HEADLINE,
            url=f"https://example.org/artikel-{n}?utm_source=newsletter",
        )
        for n in range(LINKS_PER_CAMPAIGN)
    )
    link_ids = [link.pk for link in links]
    event_queue.link_targets_store({link.pk: link.url for link in links})
    delivery_ids = list(Delivery.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True))
    pixel_paths = [urlsplit(tokens.open_url(delivery_id=pk)).path for pk in delivery_ids]
    # Two of the campaign's links per delivery, different ones for neighbouring deliveries.
    click_paths = [
        urlsplit(tokens.click_url(delivery_id=pk, link_id=link_id)).path
        for pk in delivery_ids
        for link_id in (link_ids[pk % LINKS_PER_CAMPAIGN], link_ids[(pk + 1) % LINKS_PER_CAMPAIGN])
    ]
    return pixel_paths, click_paths


# --- servers -----------------------------------------------------------------------------------


class Server:
    """A server process on a free loopback port, stopped with SIGTERM (gunicorn: graceful)."""

    def __init__(self, name: str, command: list[str], *, env: dict, port: int, answers: Path | None = None):
        self.name, self.port, self.answers = name, port, answers
        self.log = BENCH_DIR / f"{name}.log"
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_until_listening()

    def _wait_until_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited at start:\n{self.log.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{self.name} did not listen on port {self.port} within {timeout:.0f} s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its worker processes so far."""
        pids = [self.process.pid]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    pids.append(int(stat.parent.name))
        return sum(process_cpu_seconds(pid) for pid in pids)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def answered(self) -> dict[int, int]:
        """Answers by status, summed over the workers (after stop())."""
        totals: dict[int, int] = {}
        for path in self.answers.glob("*.json"):
            for status, count in json.loads(path.read_text()).items():
                totals[int(status)] = totals.get(int(status), 0) + count
        return totals


def start_gunicorn(name: str, app: str, *, settings_module: str, options: argparse.Namespace) -> Server:
    answers = BENCH_DIR / f"answers-{name}"
    shutil.rmtree(answers, ignore_errors=True)
    answers.mkdir()
    config = BENCH_DIR / "gunicorn_counts.py"
    config.write_text(GUNICORN_CONFIG)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "KANAL_BENCH_ANSWERS": str(answers),
        "PYTHONPATH": os.pathsep.join([str(REPO), str(BENCH_SOURCES)]),
    }
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(options.workers),
        "--worker-class",
        options.worker_class,
        "--threads",
        str(options.threads),
        "--config",
        str(config),
        "--log-level",
        "warning",
    ]
    if options.access_log:
        command += ["--access-logfile", str(BENCH_DIR / f"{name}-access.log")]
    return Server(name, command, env=env, port=port, answers=answers)


def start_nginx(workers: int) -> Server:
    from tracking import hits

    root = BENCH_DIR / "nginx"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    (root / "pixel.gif").write_bytes(hits.GIF)
    port = free_port()
    (root / "nginx.conf").write_text(NGINX_CONFIG.format(workers=workers, root=root, port=port))
    command = [_which("nginx"), "-p", str(root), "-c", str(root / "nginx.conf"), "-e", "stderr", "-g", "daemon off;"]
    return Server("nginx", command, env=dict(os.environ), port=port)


# --- load --------------------------------------------------------------------------------------


def wrk(
    server: Server, paths_file: Path, *, seconds: float, options: argparse.Namespace, redis_pid: int | None
) -> dict:
    """One wrk measurement, with the CPU that the server, Redis and wrk itself spent per request."""
    script = BENCH_DIR / "paths.lua"
    script.write_text(WRK_SCRIPT)
    command = [
        _which("wrk"),
        "--threads",
        str(options.wrk_threads),
        "--connections",
        str(options.connections),
        "--duration",
        f"{seconds:g}s",
        "--timeout",
        "5s",
        "--latency",
        "--script",
        str(script),
        server.url,
        "--",
        str(paths_file),
        BROWSER,
    ]
    server_before = server.cpu_seconds()
    redis_before = process_cpu_seconds(redis_pid) if redis_pid else 0.0
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {
        "server": server.cpu_seconds() - server_before,
        "redis": (process_cpu_seconds(redis_pid) - redis_before) if redis_pid else 0.0,
        "wrk": (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime),
    }
    found = re.search(r"^RESULT (.*)$", output, re.MULTILINE)
    if not found:
        raise SystemExit(f"wrk printed no summary:\n{output}")
    result = {key: int(value) for key, value in (item.split("=") for item in found.group(1).split())}
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[key] for key in ("connect", "read", "write", "timeout"))
    for part, seconds_used in cpu.items():
        result[f"cpu_{part}_us"] = seconds_used / max(result["requests"], 1) * 1e6
    result["redis_measured"] = int(bool(redis_pid))
    return result


def _cpu_per_hit(result: dict) -> float:
    return result["cpu_server_us"] + result["cpu_redis_us"] + result["cpu_wrk_us"]


def line(name: str, result: dict) -> str:
    parts = [f"server {result['cpu_server_us']:.0f}", f"wrk {result['cpu_wrk_us']:.0f}"]
    parts.insert(1, f"Redis {result['cpu_redis_us']:.0f}" if result["redis_measured"] else "Redis not counted")
    problems = []
    if result["status"]:
        problems.append(f"{result['status']} non-2xx/3xx")
    if result["errors"]:
        problems.append(f"{result['errors']} socket errors")
    return (
        f"  {name:<22} {result['rps']:>9,.0f} req/s   p50 {result['p50_us'] / 1000:6.2f} ms   "
        f"p99 {result['p99_us'] / 1000:6.2f} ms   CPU/hit {_cpu_per_hit(result):4.0f} µs ({', '.join(parts)})"
        + (f"   ({', '.join(problems)})" if problems else "")
    )


# --- batcher -----------------------------------------------------------------------------------


def run_batcher() -> tuple[int, float, int, float]:
    """The batcher's two steps, timed apart: store everything Redis holds (``events_drain``), then
    run ``events_process`` as beat would, late enough that every event has settled, until all are
    counted. Returns (stored, seconds, counted, seconds)."""
    from datetime import timedelta

    from django.utils import timezone

    from tracking import event_queue
    from tracking.services.events import events_drain, events_process

    started = time.perf_counter()
    stored = 0
    while event_queue.pending_count():
        stored += events_drain(max_chunks=50)
    store_seconds = time.perf_counter() - started
    started = time.perf_counter()
    counted = 0
    while True:
        outcome = events_process(now=timezone.now() + timedelta(minutes=10))
        stored += outcome.stored
        counted += outcome.counted
        if not outcome.stored and not outcome.counted:
            break
    return stored, store_seconds, counted, time.perf_counter() - started


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the first run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (and nginx worker processes)")
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--access-log", action="store_true", help="gunicorn writes an access log, as in the Dockerfile")
    parser.add_argument("--deliveries", type=int, default=50_000)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-nginx", action="store_true")
    parser.add_argument("--skip-bare", action="store_true")
    options = parser.parse_args()

    require_tools()
    configure_environment()
    redis_pid = setup_django()
    try:
        ok = measure(options, redis_pid=redis_pid)
    finally:
        stop_embedded_redis()
    if not ok:
        sys.exit(1)


def measure(options: argparse.Namespace, *, redis_pid: int | None) -> bool:
    from django.db import connection

    say(f"database: {connection.vendor}; Redis: {'REDIS_URL' if 'REDIS_URL' in os.environ else 'embedded'}")
    say(
        f"server: gunicorn {options.workers} x {options.worker_class}"
        + (f" ({options.threads} threads)" if options.threads > 1 else "")
        + f"; wrk {options.wrk_threads} thread(s), {options.connections} connections, {options.duration:g} s per figure"
    )
    started = time.perf_counter()
    pixel_paths, click_paths = create_deliveries(options.deliveries)
    pixel_file, click_file = BENCH_DIR / "pixel-paths.txt", BENCH_DIR / "click-paths.txt"
    pixel_file.write_text("\n".join(pixel_paths) + "\n")
    click_file.write_text("\n".join(click_paths) + "\n")
    say(
        f"{options.deliveries:,} deliveries, {len(pixel_paths):,} pixel and {len(click_paths):,} click tokens "
        f"({time.perf_counter() - started:.1f} s)"
    )
    connection.close()

    servers: dict[str, Server] = {}
    try:
        servers["kanal"] = start_gunicorn(
            "kanal", "newsletter_site.wsgi", settings_module="newsletter_site.settings", options=options
        )
        # The peer right after Kanal's pixel: the two figures of the main ratio see the same machine.
        targets = [("Kanal pixel", "kanal", pixel_file)]
        if not options.skip_peer:
            servers["peer"] = start_gunicorn(
                "peer", "tracking_peer.wsgi", settings_module="tracking_peer.settings", options=options
            )
            targets.append((PEER, "peer", pixel_file))
        if not options.skip_bare:
            gif = BENCH_DIR / "pixel.gif"
            from tracking import hits

            gif.write_bytes(hits.GIF)
            os.environ["KANAL_BENCH_GIF"] = str(gif)
            servers["bare"] = start_gunicorn(
                "bare", "tracking_peer.bare_wsgi", settings_module="tracking_peer.settings", options=options
            )
            targets.append((BARE, "bare", pixel_file))
        targets.append(("Kanal click", "kanal", click_file))
        if not options.skip_nginx:
            servers["nginx"] = start_nginx(options.workers)
            targets.append((NGINX, "nginx", pixel_file))
        results = run_load(servers, targets, options=options, redis_pid=redis_pid)
    finally:
        for server in servers.values():
            server.stop()

    say("median of the runs")
    for name, runs in results.items():
        say(line(name, {key: statistics.median(run[key] for run in runs) for key in runs[0]}))
    pixel = [run["rps"] for run in results["Kanal pixel"]]
    peer_ratio = None
    pixel_cpu = [_cpu_per_hit(run) for run in results["Kanal pixel"]]
    for name in (PEER, NGINX):
        if name in results:
            ratios = [kanal / other["rps"] for kanal, other in zip(pixel, results[name], strict=True)]
            # CPU spent per hit moves less than req/s when other work shares the machine.
            cpu_ratios = [_cpu_per_hit(other) / kanal for kanal, other in zip(pixel_cpu, results[name], strict=True)]
            say(
                f"Kanal pixel / {name}: {statistics.median(ratios):.2f}x req/s (each run: {_list(ratios)}); "
                f"{name} spends {statistics.median(cpu_ratios):.2f}x Kanal's CPU per hit"
            )
            if name == PEER:
                peer_ratio = statistics.median(ratios)

    bare_ratio = None
    if BARE in results:
        server_ratios = [
            kanal["cpu_server_us"] / bare["cpu_server_us"]
            for kanal, bare in zip(results["Kanal pixel"], results[BARE], strict=True)
        ]
        with_redis = [
            (kanal["cpu_server_us"] + kanal["cpu_redis_us"]) / bare["cpu_server_us"]
            for kanal, bare in zip(results["Kanal pixel"], results[BARE], strict=True)
        ]
        bare_ratio = statistics.median(server_ratios)
        say(
            f"server CPU per hit, Kanal pixel / {BARE}: {bare_ratio:.2f}x (each run: {_list(server_ratios)}); "
            f"with the Redis Kanal writes to: {statistics.median(with_redis):.2f}x"
        )

    answered = servers["kanal"].answered()
    accepted = answered.get(200, 0) + answered.get(302, 0)
    stored, store_seconds, counted, count_seconds = run_batcher()
    from tracking.models import Event

    in_database = Event.objects.count()
    say(f"Kanal answered {_statuses(answered)}")
    say(
        f"batcher: stored {stored:,} events in {store_seconds:.1f} s ({stored / max(store_seconds, 1e-9):,.0f}/s), "
        f"counted {counted:,} in {count_seconds:.1f} s ({counted / max(count_seconds, 1e-9):,.0f}/s)"
    )
    say(f"accepted hits (200 + 302): {accepted:,}   events in the database: {in_database:,}")
    ok = in_database == accepted
    if "peer" in servers:
        from tracking_peer.models import PixelHit

        peer_answered = servers["peer"].answered()
        rows = PixelHit.objects.count()
        say(f"one-INSERT view answered {_statuses(peer_answered)}; rows in its table: {rows:,}")
        ok = ok and rows == peer_answered.get(200, 0)

    p99 = statistics.median(run["p99_us"] for run in results["Kanal pixel"]) / 1000
    say(f"load average of this machine (1, 5, 15 min): {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    verdicts = [
        f"pixel >= 5,000/s: {_yes(statistics.median(pixel) >= 5000)}",
        f"p99 < 20 ms: {_yes(p99 < 20)}",
        f"every accepted event stored: {_yes(ok)}",
    ]
    if peer_ratio is not None:
        verdicts.append(f">= 2x one-INSERT view: {_yes(peer_ratio >= 2)}")
    if bare_ratio is not None:
        verdicts.append(f"server CPU/hit within 1.5x bare WSGI: {_yes(bare_ratio <= 1.5)}")
    peak = max(pixel)
    batcher_rate = stored / max(store_seconds + count_seconds, 1e-9)
    say(f"batcher, stored and counted: {batcher_rate:,.0f} events/s; the pixel's peak run: {peak:,.0f} hits/s")
    verdicts.append(f"batcher keeps up with the pixel's peak: {_yes(batcher_rate >= peak)}")
    say("targets: " + "; ".join(verdicts))
    return ok


def run_load(servers: dict, targets: list, *, options: argparse.Namespace, redis_pid: int | None) -> dict:
    """Warm every target up, then ``options.runs`` rounds of all targets one after the other."""
    results: dict[str, list[dict]] = {name: [] for name, _server, _paths in targets}
    for _name, server, paths in targets:
        wrk(servers[server], paths, seconds=options.warmup, options=options, redis_pid=redis_pid)
    say(f"load average before the runs (1, 5, 15 min): {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    for run in range(1, options.runs + 1):
        say(f"run {run}")
        for name, server, paths in targets:
            result = wrk(servers[server], paths, seconds=options.duration, options=options, redis_pid=redis_pid)
            results[name].append(result)
            say(line(name, result))
    return results


def _yes(value: bool) -> str:
    return "yes" if value else "NO"


def _list(values) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def _statuses(answered: dict[int, int]) -> str:
    return ", ".join(f"{count:,} x {status}" for status, count in sorted(answered.items())) or "nothing"


if __name__ == "__main__":
    main()
