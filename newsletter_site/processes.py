"""The command line of each long-running Celery process, in one place.

The Procfile, docker-compose.yml and the tests that crash things all start
``python manage.py kanal_process worker|beat``, which replaces itself with ``argv(name)``. What
differs between deployments comes from settings, that is from the environment
(``KANAL_WORKER_CONCURRENCY``, ``KANAL_WORKER_NAME``, ``LOG_LEVEL``, ``KANAL_VAR_DIR`` for beat's
schedule file), never
from extra flags, so a test runs exactly what production runs.
"""

import sys

from django.conf import settings

NAMES = ("worker", "beat")


def argv(name: str) -> list[str]:
    """The full command line of process ``name`` ("worker" or "beat")."""
    celery = [sys.executable, "-m", "celery", "--app", "newsletter_site", name, "--loglevel", settings.LOG_LEVEL]
    if name == "worker":
        # Concurrency comes from CELERY_WORKER_CONCURRENCY, the pool is Celery's default (prefork).
        # Two workers on one host need node names of their own (Celery's default is celery@<host>).
        name_option = ["--hostname", settings.KANAL_WORKER_NAME] if settings.KANAL_WORKER_NAME else []
        return [
            *celery,
            *name_option,
            # Gossip and mingle keep a second consumer on the broker for cluster features Kanal
            # does not use (electing a leader, syncing revoked ids and clocks at start-up). After
            # a Redis restart the worker can fail to restart that consumer ("Error on restarting
            # Gossip"), and a worker that met a second restart was seen to exit with
            # "Unrecoverable error: AttributeError('NoneType' object has no attribute
            # 'hostname')" (kombu#582).
            "--without-gossip",
            "--without-mingle",
            # Worker heartbeats are monitoring events published every 2 s; nothing in Kanal reads
            # them, and each one is a publish that can meet a broker in the middle of a restart.
            "--without-heartbeat",
        ]
    if name == "beat":
        # The schedule file is CELERY_BEAT_SCHEDULE_FILENAME (under KANAL_VAR_DIR).
        return celery
    raise ValueError(f"unknown process {name!r}; known: {', '.join(NAMES)}")
