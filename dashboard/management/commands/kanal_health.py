import json

from django.core.management.base import BaseCommand

from dashboard import health
from tracking import event_queue

CHECKS = ("web", "worker", "batcher")


class Command(BaseCommand):
    help = (
        "Health checks for probes (Docker HEALTHCHECK, Kubernetes): exit code 0 when healthy, 1 when not. "
        "web: database, cache and migrations; worker: this host's Celery worker answers a ping; "
        "batcher: no open or click has waited in Redis longer than --max-lag seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("check", choices=CHECKS)
        parser.add_argument(
            "--node",
            help="worker: the node to ping (default: celery@ this host's name, the node kanal_process starts)",
        )
        parser.add_argument("--any", action="store_true", help="worker: healthy when any worker answers")
        parser.add_argument("--timeout", type=float, default=5.0, help="worker: seconds to wait for the answer")
        parser.add_argument("--max-lag", type=float, default=300.0, help="batcher: the most lag that is healthy")

    def handle(self, *args, check, node, any, timeout, max_lag, **options):
        if check == "web":
            results = health.web_checks()
            healthy = all(results.values())
            report = {name: "ok" if ok else "fail" for name, ok in results.items()}
        elif check == "worker":
            node = None if any else node or health.local_worker_node()
            answered = health.workers_ping(node=node, timeout=timeout)
            healthy = bool(answered)
            report = {"pinged": node or "any", "answered": answered}
        else:
            lag = event_queue.lag_seconds()
            healthy = lag <= max_lag
            report = {"lag_seconds": round(lag, 1), "max_lag_seconds": max_lag}
        self.stdout.write(json.dumps({"status": "ok" if healthy else "fail", check: report}))
        if not healthy:
            raise SystemExit(1)
