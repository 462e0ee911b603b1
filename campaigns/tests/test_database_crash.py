"""Crash PostgreSQL three times in the middle of a campaign and count what the SMTP server got.

The test runs its own cluster (newsletter_site.tests.postgres_cluster), a Celery worker and beat
started exactly as production starts them, and a sink that records every message per
connection. A crash may cost each worker process at most the one message whose "." had left
but whose "sent" mark was not yet committed: that message arrives twice, and its first copy is
the last message its SMTP connection carried. A "sent" mark the server had acknowledged must
survive the crash: a duplicate of any earlier message fails the test.
"""

import functools
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from newsletter_site.testing import wait_until
from newsletter_site.tests import postgres_cluster
from newsletter_site.tests.processes import logs_shown_on_failure, process_environment, start_process, stop_process

REPO = Path(__file__).resolve().parents[2]
RECIPIENTS = 2500
CRASHES = 3
WORKER_PROCESSES = 2  # KANAL_WORKER_CONCURRENCY below

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(sys.platform != "linux", reason="kills process groups the Linux way"),
    pytest.mark.skipif(postgres_cluster.binaries() is None, reason="PostgreSQL's initdb/pg_ctl are not installed"),
]

CREATE_CAMPAIGN = f"""
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.tests.factories import MailingListFactory, bulk_active_subscribers

news = MailingListFactory()
bulk_active_subscribers(emails=[f"r{{n}}@example.org" for n in range({RECIPIENTS})], mailing_list=news)
campaign = CampaignFactory(mailing_lists=[news])
ArticleFactory(campaign=campaign)
sending.campaign_start(campaign=campaign)
print(campaign.pk)
"""


def kanal_env(*, database_url: str, smtp_port: int) -> dict:
    return {
        "DATABASE_URL": database_url,
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": smtp_port,
        "SITE_URL": "https://news.example.com",
        "KANAL_SEND_BATCH_SIZE": 200,
        "KANAL_SEND_PARALLEL_BATCHES": 2,
        "KANAL_WORKER_CONCURRENCY": WORKER_PROCESSES,
        # A crash leaves claims behind that only the sweeper hands back; short times keep the
        # test short without changing what happens.
        "KANAL_SEND_STALE_SECONDS": 4,
        "KANAL_SEND_SWEEP_SECONDS": 2,
    }


def manage(*arguments: str, env: dict) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=REPO,
        env=process_environment(env),
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def deliveries_by_status(url: str, campaign_id: int) -> dict:
    try:
        with psycopg.connect(url, connect_timeout=2) as connection:
            rows = connection.execute(
                "SELECT status, count(*) FROM campaigns_delivery WHERE campaign_id = %s GROUP BY status", (campaign_id,)
            ).fetchall()
            return dict(rows)
    except psycopg.OperationalError:
        return {}  # down or still recovering


def sent_at_least(url: str, campaign_id: int, count: float) -> bool:
    return deliveries_by_status(url, campaign_id).get("sent", 0) >= count


def campaign_status(url: str, campaign_id: int) -> str | None:
    try:
        with psycopg.connect(url, connect_timeout=2) as connection:
            row = connection.execute("SELECT status FROM campaigns_campaign WHERE id = %s", (campaign_id,)).fetchone()
            return row[0]
    except psycopg.OperationalError:
        return None


def test_crashing_postgresql_mid_campaign_loses_nothing_and_duplicates_only_the_in_flight_message(
    watching_sink, settings, tmp_path
):
    sink = watching_sink
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat")}
    with postgres_cluster.PostgresCluster() as cluster, logs_shown_on_failure(*logs.values(), cluster.log):
        env = kanal_env(database_url=cluster.url, smtp_port=settings.EMAIL_PORT)
        manage("migrate", "--noinput", env=env)
        campaign_id = int(manage("shell", "--no-imports", "-c", CREATE_CAMPAIGN, env=env).strip())
        worker = start_process("worker", env=env, log_path=logs["worker"])
        beat = start_process("beat", env=env, log_path=logs["beat"])
        try:
            crashes = 0
            for share in (0.2, 0.45, 0.7):
                got_there = functools.partial(sent_at_least, cluster.url, campaign_id, share * RECIPIENTS)
                if not wait_until(got_there, timeout=120, interval=0.05, raise_on_timeout=False):
                    break
                cluster.crash()
                crashes += 1
                time.sleep(2)
                cluster.start()
            wait_until(lambda: campaign_status(cluster.url, campaign_id) == "sent", timeout=240, raise_on_timeout=False)
            statuses = deliveries_by_status(cluster.url, campaign_id)
            final_status = campaign_status(cluster.url, campaign_id)
        finally:
            stop_process(worker)
            stop_process(beat)

    assert crashes == CRASHES, "the campaign ran faster than the crashes"
    assert final_status == "sent", statuses
    assert statuses == {"sent": RECIPIENTS}
    everyone = {f"r{n}@example.org" for n in range(RECIPIENTS)}
    received = sink.delivered
    missing = everyone - set(received)
    duplicates = {address for address, count in received.items() if count > 1}
    assert missing == set()
    # A duplicate is the message in flight when the database died: the last one its connection carried.
    earlier = duplicates - sink.last_of_each_connection()
    assert not earlier, f"{len(duplicates)} twice, {len(earlier)} marked sent before the crash: {sorted(earlier)}"
    assert all(received[address] == 2 for address in duplicates)
    assert len(duplicates) <= CRASHES * WORKER_PROCESSES, "at most one message per worker process per crash"
    print(f"{crashes} database crashes; {len(duplicates)} messages sent twice (window: the message in flight)")
