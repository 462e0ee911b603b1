"""What an offer block costs in sending, and how fast the shop's redemption endpoint answers.

    .venv/bin/python bench/offers.py [--recipients 100000] [--workers 1] [--concurrency 4]
        [--sink smtp-sink|aiosmtpd] [--requests 5000] [--skip-send]

Figures, each printed as it is measured (targets from issue 14):

1. Render + MIME per message, the same campaign without and with an offer block (median of 6
   runs of 5,000 messages each, in turn first; process time): the block's per-recipient values (code, signed
   /o/<token> link) and its slots. The code assignment runs once per batch of 500
   (``offers.mail.campaign_offer_codes``: one INSERT … SELECT and two reads) and is printed per
   message; both together are the added cost (target < 20 µs).
   The assignment is measured as the claim of a sending batch with and without the offer
   (``sending._claim``, codes assigned in its transaction).
2. End to end through a local SMTP sink with real workers (bench/send_campaign.py's machinery):
   a 100,000-recipient campaign without, then with an offer block from a pool; messages/s and
   the ratio (target >= 90 %).
3. The redemption endpoint ``POST /api/offers/redeem`` through the Django test client in this
   process (the whole middleware stack, no HTTP server): first redemptions, then idempotent
   replays of the same codes; requests/s (target >= 1,000).

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


def measure_message_cost(mailing_list) -> None:
    from django.db import connection

    from campaigns.mime import MailHeaders, message_id
    from campaigns.models import Delivery
    from campaigns.rendering import RecipientContext
    from campaigns.services import sending
    from campaigns.services.sending import compiled_campaign, deliveries_snapshot
    from subscribers.links import MailLinks

    plain = send_campaign.create_campaign(mailing_list, "cost without offer")
    with_offer = send_campaign.create_campaign(mailing_list, "cost with offer")
    people = 5000
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
    for batch in range(people // BATCH):  # in turn first, so a busy moment hits both alike
        for campaign in (plain, with_offer) if batch % 2 else (with_offer, plain):
            started = time.perf_counter()
            claims[campaign.pk].append(sending._claim(campaign_id=campaign.pk, limit=BATCH, campaign=campaign))
            seconds[campaign.pk].append(time.perf_counter() - started)
    claim_us = {pk: statistics.median(values) / BATCH * 1e6 for pk, values in seconds.items()}
    assign_us = claim_us[with_offer.pk] - claim_us[plain.pk]
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
        f"{claim_us[with_offer.pk]:.1f} µs with (codes assigned in the claim's transaction)"
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
    say(f"[assignment] {len(rows):,} codes in batches of {BATCH}: +{assign_us:.1f} µs per message")
    say(f"[offer block] added per message: {offer_us - plain_us + assign_us:.1f} µs (target < 20 µs)")


def measure_sending(env, mailing_list, args) -> None:
    sink = send_campaign.SmtpSink(args.sink or ("smtp-sink" if shutil.which("smtp-sink") else "aiosmtpd"))
    smtp = {
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
    }
    try:
        common = {"recipients": args.recipients, "args": args, "extra": smtp, "sink": sink}
        plain = send_campaign.send_end_to_end(env, mailing_list, label="SMTP without offer", **common)
        with_offer = send_campaign.send_end_to_end(
            env,
            mailing_list,
            label="SMTP with offer block",
            prepare=lambda campaign: attach_offer(campaign, codes=args.recipients),
            **common,
        )
    finally:
        sink.stop()
    say(f"[ratio] with an offer block: {100 * with_offer / plain:.0f} % of the throughput (target >= 90 %)")


def measure_redemption(requests: int) -> None:
    from django.test import Client

    from api.services import api_key_create
    from offers.models import CouponAssignment

    _key, raw = api_key_create(name="bench shop", scopes=["offers:redeem"])
    codes = list(CouponAssignment.objects.order_by("pk").values_list("coupon__code", flat=True)[: requests // 5])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    bodies = [
        json.dumps({"code": code, "order": f"A-{n}", "order_value": "49.90", "currency": "EUR"})
        for n, code in enumerate(codes)
    ]

    def run(label: str, payloads: list[str], created: bool) -> None:
        started = time.perf_counter()
        for body in payloads:
            response = client.post("/api/offers/redeem", body, content_type="application/json", secure=True)
            assert response.status_code == 200, (response.status_code, response.headers, response.content)
            assert response.json()["created"] is created, response.content
        seconds = time.perf_counter() - started
        rate = len(payloads) / seconds
        say(f"[redeem] {label}: {len(payloads):,} requests in {seconds:.2f} s: {rate:,.0f} requests/s")

    run("first redemptions", bodies, True)
    run("idempotent replays", bodies * 4, False)
    say("[redeem] Django test client in-process (target >= 1,000 requests/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--sink", choices=["smtp-sink", "aiosmtpd"], default=None)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--skip-send", action="store_true", help="only figures 1 and 3")
    args = parser.parse_args()

    send_campaign.BENCH_DIR = REPO / "var" / "bench" / "offers"
    env = send_campaign.configure_environment()
    send_campaign.setup_django()
    from django.conf import settings

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    say(
        f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, {os.cpu_count()} CPUs, "
        f"load average {load}, {args.workers} worker(s) x {args.concurrency} processes"
    )
    started = time.perf_counter()
    mailing_list = send_campaign.create_audience(args.recipients)
    say(f"[setup] {args.recipients:,} subscribers in {time.perf_counter() - started:.1f} s (not part of any figure)")
    measure_message_cost(mailing_list)
    if not args.skip_send:
        measure_sending(env, mailing_list, args)
    measure_redemption(args.requests)


if __name__ == "__main__":
    main()
