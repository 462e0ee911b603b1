"""Is this installation working? The checks behind ``/healthz`` and ``manage.py kanal_health``.

The web check asks only what the web process needs (database, cache, migrations), so a load
balancer never takes web processes out because workers are down; workers have their own check
(``workers_ping``) and the batcher its lag (``tracking.event_queue.lag_seconds``).
"""

import logging
import socket

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from newsletter_site.celery import app

logger = logging.getLogger(__name__)

# Applied migrations stay applied while this code runs (new migrations come with a new process),
# so the plan, which reads every migration file, is worked out until it is empty once.
_migrations = {"applied": False}


def _database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    # A miss is an answer: what counts is that the cache's Redis replied.
    cache.get("kanal:healthz")


def _migrations_applied() -> None:
    if _migrations["applied"]:
        return
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise RuntimeError("migrations not applied")
    _migrations["applied"] = True


WEB_CHECKS = {"database": _database, "cache": _cache, "migrations": _migrations_applied}


def web_checks() -> dict[str, bool]:
    """Each check of the web process and whether it passed. A failure is logged, never returned:
    its text may name hosts."""
    results = {}
    for name, check in WEB_CHECKS.items():
        try:
            check()
        except Exception:
            logger.warning("Health check %s failed", name, exc_info=True)
            results[name] = False
        else:
            results[name] = True
    return results


def local_worker_node() -> str:
    """The node name of a worker on this host started by ``kanal_process worker`` (Celery's default)."""
    return f"celery@{socket.gethostname()}"


def workers_ping(*, node: str | None, timeout: float) -> list[str]:
    """The workers that answered a ping within ``timeout`` seconds: ``node`` alone, or any when None.

    A connection of its own: one kept in Celery's pool may have died with a broker restart, and
    the check would then report the broker's past rather than the workers' present."""
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=3)
        replies = app.control.ping(destination=[node] if node else None, timeout=timeout, connection=connection)
    return sorted(name for reply in replies for name, answer in reply.items() if answer.get("ok") == "pong")
