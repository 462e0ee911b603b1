"""Start Kanal's long-running processes in tests exactly as production does, to crash them for real.

``start_process("worker", ...)`` runs ``manage.py kanal_process worker``, the same command as the
Procfile and docker-compose.yml; a test changes only the environment.
"""

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database as a DATABASE_URL, for processes started outside pytest."""
    database = connection.settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    user = database.get("USER") or "postgres"
    host = database.get("HOST") or "127.0.0.1"
    return f"postgres://{user}@{host}:{database.get('PORT') or 5432}/{database['NAME']}"


def process_environment(env: dict) -> dict:
    """This test run's database, state directory and Redis, then ``env`` (a value of None removes a variable)."""
    base = os.environ | {"DATABASE_URL": database_url(), "KANAL_VAR_DIR": str(settings.VAR_DIR)}
    if not settings.REDIS_EMBEDDED:
        base["REDIS_URL"] = settings.REDIS_URL
    merged = base | env
    return {key: str(value) for key, value in merged.items() if value is not None}


def command(name: str) -> list[str]:
    """How production starts process ``name``: the Procfile and docker-compose.yml say the same."""
    return [sys.executable, "manage.py", "kanal_process", name]


def start_process(name: str, *, env: dict, log_path: Path) -> subprocess.Popen:
    """Start ``manage.py kanal_process <name>`` with ``env`` over this run's environment
    (``process_environment``), in its own session so ``stop_process`` ends it with all its
    children; its output goes to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command(name),
            cwd=REPO,
            env=process_environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen, *, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process's whole session (its pool processes too) and wait for it."""
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, sig)
    process.wait(timeout=30)


@contextlib.contextmanager
def logs_shown_on_failure(*paths: Path, lines: int = 120) -> Iterator[None]:
    """Print the end of each log when the block is left; pytest shows it only when the test failed."""
    try:
        yield
    finally:
        for path in paths:
            text = path.read_text(errors="replace").splitlines() if path.exists() else ["(no log)"]
            print(f"----- {path} (last {lines} lines) -----", *text[-lines:], sep="\n")


def start_redis(socket_path: Path, *, log_path: Path) -> subprocess.Popen:
    """An embedded Redis of the test's own (as ``manage.py embedded_redis`` runs it) on ``socket_path``,
    its data next to it; the suite's Redis is untouched. Returns once it answers."""
    from newsletter_site import redis_server

    with log_path.open("ab") as log:
        server = subprocess.Popen(
            redis_server.foreground_arguments(socket_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            umask=redis_server.PRIVATE_UMASK,
            start_new_session=True,
        )
    redis_server.wait_until_answering(socket_path)
    return server
