"""Prometheus metrics, worked out when Prometheus asks (``/metrics``).

Nothing is counted in the web process: every figure is read from the database, Redis or the
broker at scrape time (a custom collector on a registry of its own), so it does not matter which
gunicorn worker answers the scrape. Each source is read on its own; one that cannot be read
(Redis down, say) leaves its metrics out and shows ``kanal_metrics_source_up{source=…} 0``.
"""

import contextlib
import logging

from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from campaigns.send_counters import send_counts
from dashboard.selectors import heartbeats
from newsletter_site.celery import app
from tracking import event_queue
from webhooks.selectors import delivery_failure_counts

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue: a passive declare, which is LLEN on Redis and the
    queue's message count on RabbitMQ. Tasks a worker has taken (and not yet acknowledged) are not
    counted."""
    depths = {}
    with app.connection_for_read() as connection:
        for queue in app.conf.task_queues:
            channel = connection.channel()
            try:
                depths[queue.name] = channel.queue_declare(queue=queue.name, passive=True).message_count
            except connection.channel_errors:
                # Redis has no key for an empty list; RabbitMQ has no queue before a worker declared it.
                depths[queue.name] = 0
            finally:
                with contextlib.suppress(Exception):
                    channel.close()
    return depths


def _messages():
    counts = send_counts()
    sent = CounterMetricFamily(
        "kanal_messages_sent",
        "Messages sent, per kind: campaign (campaign and automation mails) or transactional "
        "(since Redis last lost its data).",
        labels=["kind"],
    )
    failed = CounterMetricFamily(
        "kanal_messages_failed",
        "Messages that failed for good, per kind (since Redis last lost its data).",
        labels=["kind"],
    )
    for kind, outcomes in counts.items():
        sent.add_metric([kind], outcomes["sent"])
        failed.add_metric([kind], outcomes["failed"])
    return [sent, failed]


def _queues():
    depth = GaugeMetricFamily("kanal_queue_messages", "Tasks waiting in a Celery queue.", labels=["queue"])
    for name, count in sorted(queue_depths().items()):
        depth.add_metric([name], count)
    return [depth]


def _tracking():
    lag = GaugeMetricFamily(
        "kanal_tracking_batcher_lag_seconds", "Age of the oldest open or click still waiting in Redis for the batcher."
    )
    lag.add_metric([], event_queue.lag_seconds())
    pending = GaugeMetricFamily("kanal_tracking_events_pending", "Opens and clicks waiting in Redis for the batcher.")
    pending.add_metric([], event_queue.pending_count())
    return [lag, pending]


def _webhooks():
    deliveries = GaugeMetricFamily(
        "kanal_webhook_deliveries",
        "Outgoing webhook deliveries failing (failed: will be tried again) or given up (exhausted).",
        labels=["status"],
    )
    for status, count in delivery_failure_counts().items():
        deliveries.add_metric([status], count)
    return [deliveries]


def _heartbeats():
    stale = GaugeMetricFamily(
        "kanal_heartbeat_stale",
        "1 when a periodic job has not run for two of its intervals (the dashboard's warning).",
        labels=["name"],
    )
    age = GaugeMetricFamily("kanal_heartbeat_age_seconds", "Seconds since a periodic job last ran.", labels=["name"])
    now = timezone.now()
    for beat in heartbeats():
        stale.add_metric([beat.name], int(beat.stale))
        if beat.last is not None:
            age.add_metric([beat.name], (now - beat.last).total_seconds())
    return [stale, age]


SOURCES = {
    "messages": _messages,
    "queues": _queues,
    "tracking": _tracking,
    "webhooks": _webhooks,
    "heartbeats": _heartbeats,
}


class KanalCollector(Collector):
    def collect(self):
        up = GaugeMetricFamily(
            "kanal_metrics_source_up", "1 when the source could be read for this scrape.", labels=["source"]
        )
        for name, source in SOURCES.items():
            try:
                families = source()
            except Exception:
                logger.warning("Metrics source %s could not be read", name, exc_info=True)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def metrics_text() -> bytes:
    """The exposition text of every Kanal metric, read now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KanalCollector())
    return generate_latest(registry)
