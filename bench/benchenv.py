"""What the bench scripts share: a database of their own, and Django set up on it.

Imported by scripts run as ``python bench/<script>.py`` (this directory is then on sys.path).
"""

import os
import re
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def bench_database(name: str, *, bench_dir: Path, keep: bool = False, extra_env: dict | None = None) -> str:
    """Point DATABASE_URL at a fresh database for this bench (kept as it is with ``keep``).

    PostgreSQL when DATABASE_URL names one: database ``name`` next to it, created through the
    maintenance database (the one in the URL need not exist). Otherwise SQLite in ``bench_dir``.
    Returns "PostgreSQL" or "SQLite".
    """
    bench_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {"KANAL_VAR_DIR": str(bench_dir), "DJANGO_SETTINGS_MODULE": "newsletter_site.settings", **(extra_env or {})}
    )
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        if not keep:
            with psycopg.connect(re.sub(r"/[^/]*$", "/postgres", url), autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                connection.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = re.sub(r"/[^/]*$", f"/{name}", url)
        return "PostgreSQL"
    database = bench_dir / "bench.sqlite3"
    for suffix in () if keep else ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    return "SQLite"


def setup_django() -> None:
    """django.setup(), the embedded Redis when no REDIS_URL is set (stopped at exit), migrations."""
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if settings.REDIS_EMBEDDED:
        from newsletter_site import redis_server

        redis_server.ensure_running_until_exit(settings.REDIS_SOCKET)
    call_command("migrate", verbosity=0)


def say(message: str = "") -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
