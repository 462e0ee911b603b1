"""A throw-away PostgreSQL cluster of the test's own, to crash at will.

The machine's own server (5432) is never touched: ``initdb`` makes a cluster in a temporary
directory, ``pg_ctl`` runs it on a free port, and ``crash()`` stops it the way a power cut or
an OOM kill would (``-m immediate``: no checkpoint, no flush of what is still in memory).
"""

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian keeps them out of PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresCluster:
    """``with PostgresCluster() as cluster:`` a running server at ``cluster.url`` until the block ends."""

    def __init__(self, *, database: str = "kanal"):
        self.bin = binaries()
        if self.bin is None:
            raise RuntimeError("PostgreSQL's initdb is not installed")
        self.database = database
        self.port = _free_port()
        # Not pytest's tmp_path: the postgres user must be able to enter the directory.
        self.directory = Path(tempfile.mkdtemp(prefix="kanal-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self._as_postgres = os.geteuid() == 0  # initdb and postgres refuse to run as root

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *arguments: str) -> None:
        command = [str(self.bin / arguments[0]), *arguments[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def __enter__(self) -> "PostgresCluster":
        if self._as_postgres:
            shutil.chown(self.directory, user="postgres", group="postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        self.start()
        import psycopg

        with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{self.database}"')
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=60"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def crash(self) -> None:
        """Stop the server the way a crash would: every process killed, nothing flushed."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __exit__(self, *exc_info) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already down
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)
