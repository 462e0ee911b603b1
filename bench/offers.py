"""What an offer block costs in sending, and how fast the shop's redemption endpoint answers.

    .venv/bin/python bench/offers.py [--recipients 100000] [--workers 1] [--concurrency 4]
        [--sink smtp-sink|aiosmtpd] [--requests 5000] [--skip-send] [--redeem-only] [--skip-http]
        [--clients 4] [--gunicorn-workers 3] [--worker-class sync|gthread] [--conn-max-age 60]

Figures, each printed as it is measured (targets from issue 14):

1. Render + MIME per message, the same campaign without and with an offer block (median of 6
   runs of ``--cost-messages`` messages each, in turn first; process time): the block's
   per-recipient values (code, signed /o/<token> link) and its slots. The code assignment runs
   once per batch of 500 (``offers.mail.campaign_offer_codes``: the codes held, free codes, one
   INSERT of the pairs) and is printed per message; both together are the added cost (target
   < 20 µs).
   The assignment is measured as the claim of a sending batch with and without the offer
   (``sending._claim``, codes assigned in its transaction): process time on SQLite (the database
   works in this process), wall time on PostgreSQL; both are printed.
2. End to end through a local SMTP sink with real workers (bench/send_campaign.py's machinery):
   a 100,000-recipient campaign without, then with an offer block from a pool; messages/s and
   the ratio (target >= 90 %).
3. The redemption endpoint ``POST /api/offers/redeem`` (target >= 1,000 requests/s): first
   redemptions of ``--requests``/5 codes, then four idempotent replays of each; requests/s and
   latency median/p99. In this process, no HTTP: through the Django test client (the whole
   middleware stack) and through the production WSGI application (``newsletter_site.wsgi``, whose
   lean path skips the middleware). Then over HTTP: gunicorn started as the Dockerfile starts it
   (``newsletter_site.wsgi``, 3 sync workers; sync workers close the connection after each
   answer, so the clients reconnect) on a free local port, driven by ``--clients`` processes
   on the same machine, each with its own connection. ``--redeem-only`` makes just the codes
   this needs (3 x requests/5 subscribers and codes given out with a campaign's deliveries).

The database is SQLite in var/bench/offers/ unless DATABASE_URL is set (PostgreSQL: database
kanal_bench), as bench/send_campaign.py does.
"""

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import send_campaign
from benchenv import say
from httpbench import gunicorn_running, latency_summary, post_all

REPO = Path(__file__).resolve().parent.parent
BATCH = 500


def attach_offer(campaign, *, codes: int):
    from datetime import timedelta

    from django.utils import timezone

    from offers.models import Offer
    from offers.services.assignment import campaign_offer_set
    from offers.services.pools import MAX_GENERATE, pool_generate

    offer = Offer.objects.create(
        name=f"Frühlingsrabatt {campaign.pk}",
        landing_url="https://shop.example.com/fruehling",
        terms="10 % auf alles, einmal je Kunde.",
        expires_at=timezone.now() + timedelta(days=14),
    )
    while codes > 0:
        count = min(codes, MAX_GENERATE)
        pool_generate(offer=offer, pattern="FR-XXXX-XXXX", count=count)
        codes -= count
    campaign_offer_set(campaign=campaign, offer=offer)
    campaign.refresh_from_db()
    return offer


def measure_message_cost(mailing_list, *, people: int) -> None:
    from django.db import connection

    from campaigns.mime import MailHeaders, message_id
    from campaigns.models import Delivery
    from campaigns.rendering import RecipientContext
    from campaigns.services import sending
    from campaigns.services.sending import compiled_campaign, deliveries_snapshot
    from subscribers.links import MailLinks

    plain = send_campaign.create_campaign(mailing_list, "cost without offer")
    with_offer = send_campaign.create_campaign(mailing_list, "cost with offer")
    attach_offer(with_offer, codes=people)
    deliveries_snapshot(campaign=plain)
    deliveries_snapshot(campaign=with_offer)
    if connection.vendor == "sqlite":  # the snapshots' WAL pages, copied now rather than inside a claim
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    links = MailLinks()

    class Person:  # what MailLinks reads of a subscriber
        def __init__(self, public_id, token_version=0):
            self.public_id, self.token_version = public_id, token_version

    # The claim of a sending batch, as delivery_batch_send makes it: with an offer, the codes are
    # assigned in the claim's transaction. The difference is the assignment's cost.
    claims = {plain.pk: [], with_offer.pk: []}
    seconds = {plain.pk: [], with_offer.pk: []}
    cpu_seconds = {plain.pk: [], with_offer.pk: []}
    for batch in range(people // BATCH):  # in turn first, so a busy moment hits both alike
        for campaign in (plain, with_offer) if batch % 2 else (with_offer, plain):
            started, started_cpu = time.perf_counter(), time.process_time()
            claims[campaign.pk].append(sending._claim(campaign_id=campaign.pk, limit=BATCH, campaign=campaign))
            seconds[campaign.pk].append(time.perf_counter() - started)
            cpu_seconds[campaign.pk].append(time.process_time() - started_cpu)
    claim_us = {pk: statistics.median(values) / BATCH * 1e6 for pk, values in seconds.items()}
    claim_cpu_us = {pk: statistics.median(values) / BATCH * 1e6 for pk, values in cpu_seconds.items()}
    # SQLite works in this process: its CPU time is the claim's cost, as render + MIME's is, and
    # does not grow with other work on the machine. PostgreSQL's work is in its server: wall time.
    in_process = connection.vendor == "sqlite"
    basis = claim_cpu_us if in_process else claim_us
    assign_us = basis[with_offer.pk] - basis[plain.pk]
    values_of = {}
    for claim in claims[with_offer.pk]:
        assert not claim.prepared[0].held
        for pk in Delivery.objects.filter(claim=claim.token).values_list("pk", flat=True):
            values_of[pk] = claim.prepared[0].links
    rows = list(
        Delivery.objects.filter(campaign=with_offer, pk__in=values_of)
        .order_by("pk")
        .values_list("pk", "subscriber__email", "subscriber__first_name", "subscriber__public_id")
    )
    say(
        f"[claim] batches of {BATCH}, median: {claim_us[plain.pk]:.1f} µs per message without offer, "
        f"{claim_us[with_offer.pk]:.1f} µs with (wall time; codes assigned in the claim's transaction)"
    )
    if in_process:
        say(
            f"[claim] process time, median: {claim_cpu_us[plain.pk]:.1f} µs per message without offer, "
            f"{claim_cpu_us[with_offer.pk]:.1f} µs with"
        )

    def builder(campaign, *, offer: bool):
        _compiled, skeleton = compiled_campaign(campaign)

        def build(row):
            pk, address, first_name, public_id = row
            unsubscribe, preferences, list_unsubscribe = links.for_subscriber(Person(public_id))
            extra = values_of[pk](pk, None) if offer else {}
            context = RecipientContext(
                email=address,
                first_name=first_name,
                unsubscribe_url=unsubscribe,
                preferences_url=preferences,
                **extra,
            )
            headers = MailHeaders(
                to=address,
                message_id=message_id(campaign_id=campaign.pk, delivery_id=pk, domain="example.com"),
                list_unsubscribe=list_unsubscribe,
                delivery_id=pk,
            )
            return skeleton.build(context, headers)

        return build

    def per_message_us(build) -> float:
        started = time.process_time()
        for row in rows:
            build(row)
        return (time.process_time() - started) / len(rows) * 1e6

    build_plain, build_offer = builder(plain, offer=False), builder(with_offer, offer=True)
    sample = build_offer(rows[0]).decode()
    assert values_of[rows[0][0]](rows[0][0], None)["values"]["offer_code"] in sample.replace("=\r\n", "")
    results = {"plain": [], "offer": []}
    for run in range(6):  # interleaved and in turn first, so a busy moment on the machine hits both alike
        order = [("plain", build_plain), ("offer", build_offer)]
        for name, build in order if run % 2 else reversed(order):
            results[name].append(per_message_us(build))
    plain_us, offer_us = statistics.median(results["plain"]), statistics.median(results["offer"])
    say(f"[render+MIME] without offer block: median {plain_us:.1f} µs per message")
    say(f"[render+MIME] with offer block: median {offer_us:.1f} µs per message (+{offer_us - plain_us:.1f} µs)")
    say(
        f"[assignment] {len(rows):,} codes in batches of {BATCH}: +{assign_us:.1f} µs per message "
        f"({'process' if in_process else 'wall'} time)"
    )
    say(f"[offer block] added per message: {offer_us - plain_us + assign_us:.1f} µs (target < 20 µs)")


def measure_sending(env, mailing_list, args) -> None:
    sink = send_campaign.SmtpSink(args.sink or ("smtp-sink" if shutil.which("smtp-sink") else "aiosmtpd"))
    smtp = {
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
    }
    common = {"recipients": args.recipients, "args": args, "extra": smtp, "sink": sink}
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    # A B B A: each later campaign meets a database grown by the earlier ones; the order cancels that.
    order = [False, True, True, False] if args.abba else [False, True]
    try:
        for with_offer in order:
            label = "SMTP with offer block" if with_offer else "SMTP without offer"
            prepare = (lambda campaign: attach_offer(campaign, codes=args.recipients)) if with_offer else None
            rates[with_offer].append(
                send_campaign.send_end_to_end(
                    env, mailing_list, label=label, prepare=prepare, cpu=cpu[with_offer], **common
                )
            )
    finally:
        sink.stop()
    plain, with_offer = statistics.mean(rates[False]), statistics.mean(rates[True])
    say(
        f"[ratio] with an offer block: {100 * with_offer / plain:.0f} % of the throughput "
        f"({'A B B A, means' if args.abba else 'without, then with'}; target >= 90 %)"
    )
    plain_cpu, offer_cpu = statistics.mean(cpu[False]), statistics.mean(cpu[True])
    say(
        f"[cpu] workers' CPU per message without / with the block: {plain_cpu * 1e6:.0f} / {offer_cpu * 1e6:.0f} µs "
        f"(+{(offer_cpu - plain_cpu) * 1e6:.0f} µs; throughput bound by it: {100 * plain_cpu / offer_cpu:.0f} %)"
    )


def prepare_codes(mailing_list, count: int) -> None:
    """``count`` pool codes given out with a campaign's deliveries, as the sending path gives them."""
    from campaigns.models import Delivery
    from campaigns.services.sending import deliveries_snapshot
    from offers.services.assignment import coupons_assign

    campaign = send_campaign.create_campaign(mailing_list, "redemptions")
    offer = attach_offer(campaign, codes=count)
    deliveries_snapshot(campaign=campaign)
    ids = list(Delivery.objects.filter(campaign=campaign).order_by("pk").values_list("pk", flat=True)[:count])
    for start in range(0, len(ids), BATCH):
        coupons_assign(offer_id=offer.pk, delivery_ids=ids[start : start + BATCH])


def _bodies(codes: list[str], label: str) -> list[bytes]:
    return [
        json.dumps({"code": code, "order": f"{label}-{n}", "order_value": "49.90", "currency": "EUR"}).encode()
        for n, code in enumerate(codes)
    ]


def _report(label: str, count: int, seconds: float, latencies: list[float]) -> None:
    say(
        f"[redeem] {label}: {count:,} requests in {seconds:.2f} s: {count / seconds:,.0f} requests/s, "
        f"{latency_summary(latencies)}"
    )


def measure_redemption_in_process(raw_key: str, codes: list[str], codes_lean: list[str]) -> None:
    """Figure 3a: in this process, no HTTP; the Django test client (whole middleware stack) and
    the production WSGI application (``newsletter_site.wsgi``, the endpoint's lean path)."""
    import io

    from django.test import Client

    from newsletter_site.wsgi import application

    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    def through_client(body: bytes) -> dict:
        response = client.post("/api/offers/redeem", body, content_type="application/json", secure=True)
        assert response.status_code == 200, (response.status_code, response.content)
        return response.json()

    def through_wsgi(body: bytes) -> dict:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/offers/redeem",
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "443",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {raw_key}",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.url_scheme": "https",
        }
        answer = []
        content = b"".join(application(environ, lambda status, headers: answer.append(status)))
        assert answer[0].startswith("200"), (answer, content)
        return json.loads(content)

    for name, send, chosen in (("test client", through_client, codes), ("WSGI application", through_wsgi, codes_lean)):
        bodies = _bodies(chosen, name[:4])
        for label, payloads, created in (
            ("first redemptions", bodies, True),
            ("idempotent replays", bodies * 4, False),
        ):
            latencies = []
            started = time.perf_counter()
            for body in payloads:
                begun = time.perf_counter()
                assert send(body)["created"] is created
                latencies.append(time.perf_counter() - begun)
            _report(f"in-process, {name}, {label}", len(payloads), time.perf_counter() - started, latencies)


def measure_redemption_http(raw_key: str, codes: list[str], args) -> None:
    """Figure 3b: gunicorn as the Dockerfile starts it (``newsletter_site.wsgi``, sync workers)
    on a free port, driven by ``--clients`` client processes over HTTP."""
    import multiprocessing

    log = send_campaign.BENCH_DIR / "gunicorn.log"
    server = {"workers": args.gunicorn_workers, "worker_class": args.worker_class, "threads": args.threads}
    with gunicorn_running(log=log, conn_max_age=args.conn_max_age, **server) as port:
        bodies = _bodies(codes, "HTTP")
        clients = args.clients
        headers = {"Authorization": f"Bearer {raw_key}"}
        with multiprocessing.get_context("fork").Pool(clients) as pool:
            for label, payloads, created in (
                ("first redemptions", bodies, True),
                ("idempotent replays", bodies * 4, False),
            ):
                requests = [(body, {}) for body in payloads]
                jobs = [
                    (port, "/api/offers/redeem", headers, requests[n::clients], 200, {"created": created})
                    for n in range(clients)
                ]
                started = time.perf_counter()
                results = pool.map(post_all, jobs)
                seconds = time.perf_counter() - started
                latencies = [value for result in results for value in result[0]]
                reconnects = sum(result[1] for result in results)
                _report(f"HTTP, {label}", len(payloads), seconds, latencies)
                say(f"[redeem]   ({reconnects:,} new TCP connections for {len(payloads):,} requests)")
    threads = f" x {args.threads} threads" if args.worker_class == "gthread" else ""
    say(
        f"[redeem] HTTP: gunicorn newsletter_site.wsgi, {args.gunicorn_workers} {args.worker_class} workers{threads}, "
        f"DATABASE_CONN_MAX_AGE={args.conn_max_age}, {clients} client processes on the same "
        f"{os.cpu_count()} CPUs (target >= 1,000 requests/s)"
    )


def measure_redemption(args) -> None:
    from api.services import api_key_create
    from offers.models import CouponAssignment

    _key, raw = api_key_create(name="bench shop", scopes=["offers:redeem"])
    per_phase = args.requests // 5
    codes = list(CouponAssignment.objects.order_by("pk").values_list("coupon__code", flat=True)[: 3 * per_phase])
    assert len(codes) == 3 * per_phase, f"{len(codes)} codes given out, {3 * per_phase} needed"
    measure_redemption_in_process(raw, codes[:per_phase], codes[per_phase : 2 * per_phase])
    if not args.skip_http:
        measure_redemption_http(raw, codes[2 * per_phase :], args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sink", choices=["smtp-sink", "aiosmtpd"], default=None)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument(
        "--cost-messages", type=int, default=20_000, help="figure 1: messages per side (batches of 500 claimed in turn)"
    )
    parser.add_argument("--skip-send", action="store_true", help="only figures 1 and 3")
    parser.add_argument(
        "--abba", action="store_true", help="end to end four times: without, with, with, without (order effects cancel)"
    )
    parser.add_argument("--redeem-only", action="store_true", help="only figure 3 (the redemption endpoint)")
    parser.add_argument("--skip-http", action="store_true", help="figure 3 in-process only, no gunicorn")
    parser.add_argument("--clients", type=int, default=4, help="HTTP client processes (figure 3)")
    parser.add_argument("--gunicorn-workers", type=int, default=3, help="as in the Dockerfile")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync", help="as in the Dockerfile")
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="DATABASE_CONN_MAX_AGE here and in gunicorn (production default: 0)",
    )
    args = parser.parse_args()

    send_campaign.BENCH_DIR = REPO / "var" / "bench" / "offers"
    env = send_campaign.configure_environment()
    # This process's connection is kept like gunicorn's (figure 3; production default: 0).
    os.environ["DATABASE_CONN_MAX_AGE"] = str(args.conn_max_age)
    send_campaign.setup_django()
    from django.conf import settings

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    say(
        f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, {os.cpu_count()} CPUs, "
        f"load average {load}, {args.workers} worker(s) x {args.concurrency} processes"
    )
    started = time.perf_counter()
    recipients = 3 * (args.requests // 5) if args.redeem_only else args.recipients
    mailing_list = send_campaign.create_audience(recipients)
    say(f"[setup] {recipients:,} subscribers in {time.perf_counter() - started:.1f} s (not part of any figure)")
    if args.redeem_only:
        prepare_codes(mailing_list, recipients)
    else:
        measure_message_cost(mailing_list, people=min(args.cost_messages, args.recipients))
        if not args.skip_send:
            measure_sending(env, mailing_list, args)
    measure_redemption(args)


if __name__ == "__main__":
    main()
