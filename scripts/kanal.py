#!/usr/bin/env python3
"""Kanal's two commands, runnable with nothing but Python 3.11 installed.

    python3 scripts/kanal.py up      run web + worker + beat (+ the embedded Redis), migrated, with demo data
    python3 scripts/kanal.py test    run the whole test suite (extra arguments go to pytest)

CI also runs ``python3 scripts/kanal.py check-deploy``: Django's deployment checks under a
production-like environment (no DEBUG, a random key, https SITE_URL, behind a TLS proxy).

Standard library only: this runs before the virtualenv exists.
"""

import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
REQUIREMENT_FILES = [REPO / "requirements.txt", REPO / "requirements-dev.txt"]
STAMP = VENV / ".kanal-requirements.sha256"
CHROMIUM = Path("/usr/bin/chromium")


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(arguments: list, **kwargs) -> None:
    subprocess.run([str(argument) for argument in arguments], check=True, cwd=REPO, **kwargs)


def requirements_digest() -> str:
    digest = hashlib.sha256()
    for path in REQUIREMENT_FILES:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_virtualenv() -> None:
    if not VENV_PYTHON.exists():
        say(f"Creating the virtualenv in {VENV.relative_to(REPO)}/")
        # clear=True: a .venv without a working python (say, its base interpreter was removed)
        # is rebuilt from scratch, stamp included, so the install below runs again.
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    wanted = requirements_digest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    say("Installing dependencies (only when requirements*.txt changed)")
    run([VENV_PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-r", "requirements-dev.txt"])
    STAMP.write_text(wanted)


# Debian packages the tests need, each with a file it installs and what needs it. Playwright
# cannot download a browser here, so the browser tests drive Debian's chromium.
TEST_PACKAGES = {
    "chromium": (CHROMIUM, "the browser tests"),
    "gettext": (Path("/usr/bin/msgfmt"), "the translation check (makemessages, msgfmt)"),
    # The IMAP and POP3 tests start their own Dovecot on 127.0.0.1 (inbound/tests/dovecot.py).
    "dovecot-imapd": (Path("/usr/sbin/dovecot"), "the inbound mailbox (IMAP) test"),
    "dovecot-pop3d": (Path("/usr/lib/dovecot/pop3"), "the inbound mailbox (POP3) test"),
}


def ensure_test_packages() -> None:
    missing = [package for package, (path, _purpose) in TEST_PACKAGES.items() if not path.exists()]
    if not missing:
        return
    in_ci = os.environ.get("CI", "").lower() == "true"
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        say(f"Installing Debian's {', '.join(missing)} for the tests")
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        try:
            run([apt, "update", "-q"], env=env, stdout=subprocess.DEVNULL)
            run([apt, "install", "-y", "-q", "--no-install-recommends", *missing], env=env, stdout=subprocess.DEVNULL)
        except subprocess.CalledProcessError as error:
            if in_ci:
                sys.exit(f"Installing {', '.join(missing)} failed: {error}")
    for package in missing:
        path, purpose = TEST_PACKAGES[package]
        if path.exists():
            continue
        if in_ci:
            sys.exit(f"{path} is missing and could not be installed; CI needs it for {purpose}.")
        say(f"{path} is missing: {purpose} will be skipped (apt-get install {package}).")


def manage(*arguments: str, env: dict) -> None:
    run([VENV_PYTHON, "manage.py", *arguments], env=env)


def embedded_redis_socket(env: dict) -> Path:
    """Where newsletter_site.settings puts the embedded Redis (REDIS_SOCKET) for this environment."""
    return Path(env.get("KANAL_VAR_DIR") or REPO / "var").resolve() / "redis.sock"


def redis_command(socket_path: Path, *words: str) -> bytes:
    """Send one command to the Redis on a unix socket and return the first bytes of its answer."""
    request = f"*{len(words)}\r\n" + "".join(f"${len(word)}\r\n{word}\r\n" for word in words)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(2)
        connection.connect(str(socket_path))
        connection.sendall(request.encode())
        return connection.recv(64)


def redis_answers(socket_path: Path) -> bool:
    try:
        return redis_command(socket_path, "PING").startswith(b"+PONG")
    except OSError:
        return False


def up() -> None:
    ensure_virtualenv()
    env = os.environ.copy()
    env.setdefault("DEBUG", "1")  # runserver serves the static files in development
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    say("Migrating the database")
    manage("migrate", "--noinput", env=env)
    say("Creating the admin login and demo data (idempotent)")
    manage("kanal_bootstrap", env=env)
    processes = ["web", "worker", "beat"]
    if not env.get("REDIS_URL"):
        socket_path = embedded_redis_socket(env)
        if redis_answers(socket_path):
            # A second server on the same socket would take it over from the first one and share
            # its files; a test run still going, for one, has a daemonised server here.
            say(f"Using the embedded Redis that already answers on {socket_path}")
        else:
            processes.insert(0, "redis")
    say(f"Starting {', '.join(processes)} (Ctrl-C stops them all)")
    honcho = VENV / "bin" / "honcho"
    os.chdir(REPO)
    os.execve(honcho, [str(honcho), "start", "-f", "Procfile", *processes], env)


def test(pytest_arguments: list[str]) -> None:
    ensure_virtualenv()
    ensure_test_packages()
    env = os.environ.copy()
    # Own state for the tests: their embedded Redis, database file, outbox and uploads never
    # touch development data.
    env.setdefault("KANAL_VAR_DIR", str(REPO / "var" / "test"))
    # conftest.py starts the embedded Redis when none answers, and stops the one it started.
    database = "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    redis = env.get("REDIS_URL") or "embedded Redis"
    say(f"Running the test suite on {database} with {redis}")
    result = subprocess.run([str(VENV_PYTHON), "-m", "pytest", *pytest_arguments], cwd=REPO, env=env)
    # pytest's own code, so "no tests collected" (5) stays a failure too.
    sys.exit(result.returncode)


def production_like_environment(var_dir: str) -> dict:
    """What an operator sets in production (README), with state in ``var_dir``; DEBUG stays unset."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "DATABASE_URL", "REDIS_URL", "SECRET_KEY_FALLBACKS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    return env | {
        "DJANGO_SETTINGS_MODULE": "newsletter_site.settings",
        "KANAL_VAR_DIR": var_dir,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SITE_URL": "https://news.example.com",
        "ALLOWED_HOSTS": "news.example.com",
        "KANAL_BEHIND_TLS_PROXY": "1",
        "ANYMAIL_WEBHOOK_SECRET": "kanal:" + secrets.token_urlsafe(20),
    }


def check_deploy() -> None:
    ensure_virtualenv()
    with tempfile.TemporaryDirectory(prefix="kanal-check-deploy-") as var_dir:
        say("Django's deployment checks under a production-like environment")
        manage("check", "--deploy", "--fail-level", "WARNING", env=production_like_environment(var_dir))


COMMANDS = ("up", "test", "check-deploy")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    try:
        if sys.argv[1] == "up":
            up()
        elif sys.argv[1] == "check-deploy":
            check_deploy()
        else:
            test(sys.argv[2:])
    except subprocess.CalledProcessError as error:
        sys.exit(f"kanal.py: `{' '.join(map(str, error.cmd))}` failed with exit code {error.returncode}.")
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
