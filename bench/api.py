"""Issue 17's speed targets: ``POST /api/v1/subscribers/`` over HTTP, and outgoing webhooks.

    python bench/api.py [--requests 4000] [--clients 4] [--gunicorn-workers 3]
                        [--events 5000] [--worker-concurrency 2] [--skip-http] [--skip-webhooks]
                        [--publish-each] [--database kanal_bench_api]

1. Sign-ups: gunicorn as the Dockerfile starts it (``newsletter_site.wsgi``, sync workers), client
   processes on keep-alive connections POST ``--requests`` new subscribers, each with its own
   ``Idempotency-Key`` (every one starts double opt-in: consent record, confirmation mail queued),
   then the same requests again: each must come back as the stored answer
   (``Idempotent-Replayed: true``) and nothing new is stored. Target >= 500 requests/s.
2. Webhooks: a receiver process on 127.0.0.1 verifies every request with the Standard Webhooks
   reference library (``standardwebhooks``) and counts distinct message ids; production's worker
   (``manage.py kanal_process worker``) delivers ``--events`` events published in one transaction
   (gathered by ``events_batched()``: two INSERTs; ``--publish-each``: two INSERTs per event).
   Rate from the commit to the last verified request. Target >= 1,000 events/s.

SQLite with the embedded Redis by default; PostgreSQL when DATABASE_URL names one (database
``kanal_bench_api``, or ``--database``, beside it). Details and figures: docs/benchmarks.md.
"""

import argparse
import json
import multiprocessing
import os
import time
import urllib.request
import uuid
from contextlib import nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchenv import REPO, bench_database, free_port, say, setup_django
from httpbench import gunicorn_running, latency_summary, post_all

BENCH_DIR = REPO / "var" / "bench" / "api"
RATE_UNLIMITED = str(10**9)


def measure_signups(args) -> None:
    from api.services import api_key_create
    from subscribers.models import ConsentRecord, Subscriber
    from subscribers.tests.factories import MailingListFactory

    news = MailingListFactory(slug="news")
    _key, raw = api_key_create(name="bench shop", scopes=["subscribers:write"])
    run = uuid.uuid4().hex[:8]
    requests = [
        (
            json.dumps({"email": f"s{n}.{run}@example.org", "first_name": "Ada", "lists": [news.slug]}).encode(),
            {"Idempotency-Key": f"{run}-{n}"},
        )
        for n in range(args.requests)
    ]
    clients = args.clients
    server = {"workers": args.gunicorn_workers, "worker_class": "sync", "threads": 1}
    with (
        gunicorn_running(log=BENCH_DIR / "gunicorn.log", conn_max_age=args.conn_max_age, **server) as port,
        multiprocessing.get_context("fork").Pool(clients) as pool,
    ):
        headers = {"Authorization": f"Bearer {raw}"}
        for label in ("new sign-ups", "idempotent replays"):
            jobs = [
                (port, "/api/v1/subscribers/", headers, requests[n::clients], 202, {"status": "pending"})
                for n in range(clients)
            ]
            started = time.perf_counter()
            results = pool.map(post_all, jobs)
            seconds = time.perf_counter() - started
            latencies = [value for result in results for value in result[0]]
            say(
                f"[signup] {label}: {len(requests):,} requests in {seconds:.2f} s: "
                f"{len(requests) / seconds:,.0f} requests/s, {latency_summary(latencies)}"
            )
    subscribers = Subscriber.objects.filter(email__endswith=f".{run}@example.org").count()
    consents = ConsentRecord.objects.filter(subscriber__email__endswith=f".{run}@example.org").count()
    say(f"[signup] stored: {subscribers:,} subscribers, {consents:,} consent records for {len(requests):,} addresses")
    assert subscribers == len(requests), "a sign-up is missing, or a replay stored another"
    say(
        f"[signup] gunicorn newsletter_site.wsgi, {args.gunicorn_workers} sync workers, "
        f"DATABASE_CONN_MAX_AGE={args.conn_max_age}, {clients} client processes on the same "
        f"{os.cpu_count()} CPUs (target >= 500 requests/s)"
    )


def _receive(port: int, secret: str, ready) -> None:
    """The receiver process: verify each request the Standard Webhooks way, count; GET answers the counts."""
    from standardwebhooks.webhooks import Webhook

    verifier = Webhook(secret)
    seen: set[str] = set()
    counts = {"verified": 0, "refused": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                verifier.verify(body, dict(self.headers))
            except Exception:
                counts["refused"] += 1
                self._answer(400, b"{}")
                return
            counts["verified"] += 1
            seen.add(self.headers["webhook-id"])
            self._answer(200, b"{}")

        def do_GET(self):
            self._answer(200, json.dumps(counts | {"distinct": len(seen)}).encode())

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    ready.set()
    httpd.serve_forever()


def _counts(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
        return json.loads(answer.read())


def measure_webhooks(args, env: dict) -> None:
    import send_campaign
    from django.db import transaction

    from webhooks.models import Delivery, Endpoint
    from webhooks.services import event_publish, events_batched

    port = free_port()
    endpoint = Endpoint.objects.create(url=f"http://127.0.0.1:{port}/hook", events=["subscriber.confirmed"])
    ready = multiprocessing.get_context("fork").Event()
    receiver = multiprocessing.get_context("fork").Process(target=_receive, args=(port, endpoint.secret, ready))
    receiver.start()
    ready.wait(10)
    extra = {"DJANGO_SETTINGS_MODULE": "outbound_settings"}
    workers = send_campaign.start_workers(env, count=1, concurrency=args.worker_concurrency, extra=extra)
    try:
        send_campaign.wait_until_ready(workers)
        started = time.perf_counter()
        with transaction.atomic():
            with nullcontext() if args.publish_each else events_batched():
                for n in range(args.events):
                    event_publish(event_type="subscriber.confirmed", data={"subscriber": {"n": n}})
            committing = time.perf_counter()
        committed = time.perf_counter()
        deadline = time.monotonic() + max(120, args.events / 50)
        counts = _counts(port)
        while counts["verified"] < args.events and time.monotonic() < deadline:
            time.sleep(0.01)
            counts = _counts(port)
        finished = time.perf_counter()
        # The receiver has everything; give the worker the moment it needs to record the last batch.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
            Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.SUCCEEDED).count() < counts["verified"]
        ):
            time.sleep(0.1)
    finally:
        send_campaign.stop_workers(workers)
        receiver.terminate()
        receiver.join()
    delivered = Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.SUCCEEDED).count()
    delivering, overall = finished - committed, finished - started
    say(
        f"[webhooks] {args.events:,} events published in {committing - started:.2f} s "
        f"({(committing - started) / args.events * 1e3:.2f} ms each, one transaction, "
        f"{'each on its own' if args.publish_each else 'inserted together (events_batched)'}; commit "
        f"{committed - committing:.2f} s); {counts['verified']:,} verified by the receiver "
        f"({counts['distinct']:,} distinct ids, {counts['refused']} refused), {delivered:,} deliveries "
        "marked succeeded"
    )
    say(
        f"[webhooks] delivery, from the commit to the last verified request: {delivering:.2f} s, "
        f"{counts['verified'] / delivering:,.0f} events/s; from the first publish: {overall:.2f} s, "
        f"{counts['verified'] / overall:,.0f} events/s"
    )
    say(
        f"[webhooks] one worker (`manage.py kanal_process worker`), concurrency {args.worker_concurrency}, "
        f"receiver: Python ThreadingHTTPServer + standardwebhooks, all on {os.cpu_count()} CPUs "
        "(target >= 1,000 events/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--gunicorn-workers", type=int, default=3, help="as in the Dockerfile")
    parser.add_argument("--conn-max-age", type=int, default=60, help="DATABASE_CONN_MAX_AGE in gunicorn")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--worker-concurrency", type=int, default=os.cpu_count())
    parser.add_argument(
        "--database", default="kanal_bench_api", help="PostgreSQL only: the database to create for the bench"
    )
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-webhooks", action="store_true")
    parser.add_argument(
        "--publish-each",
        action="store_true",
        help="publish the events one event_publish at a time, not gathered by events_batched()",
    )
    args = parser.parse_args()

    extra = {"KANAL_API_RATE_PER_MINUTE": RATE_UNLIMITED, "SITE_URL": "https://news.example.com"}
    database = bench_database(args.database, bench_dir=BENCH_DIR, extra_env=extra)
    setup_django()
    say(f"[api] {database}; rate limit per key lifted for the bench ({RATE_UNLIMITED}/minute)")
    env = {key: os.environ[key] for key in ("DATABASE_URL", "KANAL_VAR_DIR", "DJANGO_SETTINGS_MODULE", *extra)}
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    if not args.skip_http:
        measure_signups(args)
    if not args.skip_webhooks:
        measure_webhooks(args, env)


if __name__ == "__main__":
    main()
