#!/usr/bin/env python3
# LEAD NOTE (temporary): the lead already wrote and committed this file while you were starting. Do not replace it; read it, extend it only if your task needs more, and say so in your report.
"""Kanal's two commands, runnable with nothing but Python 3.11 installed.

    python3 scripts/kanal.py up      run web + worker + beat (+ the embedded Redis), migrated, with demo data
    python3 scripts/kanal.py test    run the whole test suite (extra arguments go to pytest)

Standard library only: this runs before the virtualenv exists.
"""

import hashlib
import os
import shutil
import subprocess
import sys
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
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = requirements_digest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    say("Installing dependencies (only when requirements*.txt changed)")
    run([VENV_PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements-dev.txt"])
    STAMP.write_text(wanted)


def ensure_chromium() -> None:
    """The browser tests drive Debian's chromium; Playwright cannot download a browser here."""
    if CHROMIUM.exists():
        return
    in_ci = os.environ.get("CI", "").lower() == "true"
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        say("Installing Debian's chromium for the browser tests")
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        try:
            run([apt, "update", "-q"], env=env, stdout=subprocess.DEVNULL)
            run([apt, "install", "-y", "-q", "--no-install-recommends", "chromium"], env=env, stdout=subprocess.DEVNULL)
        except subprocess.CalledProcessError as error:
            if in_ci:
                sys.exit(f"Installing chromium failed: {error}")
    if not CHROMIUM.exists():
        if in_ci:
            sys.exit(f"{CHROMIUM} is missing and could not be installed; CI needs it for the browser tests.")
        say(f"{CHROMIUM} is missing: the browser tests will be skipped (apt-get install chromium).")


def manage(*arguments: str, env: dict) -> None:
    run([VENV_PYTHON, "manage.py", *arguments], env=env)


def up() -> None:
    ensure_virtualenv()
    env = os.environ.copy()
    env.setdefault("DEBUG", "1")  # runserver serves the static files in development
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    say("Migrating the database")
    manage("migrate", "--noinput", env=env)
    say("Creating the admin login and demo data (idempotent)")
    manage("kanal_bootstrap", env=env)
    processes = ["web", "worker", "beat"] if env.get("REDIS_URL") else ["redis", "web", "worker", "beat"]
    say(f"Starting {', '.join(processes)} (Ctrl-C stops them all)")
    honcho = VENV / "bin" / "honcho"
    os.chdir(REPO)
    os.execve(honcho, [str(honcho), "start", "-f", "Procfile", *processes], env)


def test(pytest_arguments: list[str]) -> None:
    ensure_virtualenv()
    ensure_chromium()
    env = os.environ.copy()
    if not env.get("REDIS_URL"):
        # Own state for the tests: their embedded Redis, outbox and files never touch development data.
        env.setdefault("KANAL_VAR_DIR", str(REPO / "var" / "test"))
    database = "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    redis = env.get("REDIS_URL") or "embedded Redis"
    say(f"Running the test suite on {database} with {redis}")
    result = subprocess.run([str(VENV_PYTHON), "-m", "pytest", *pytest_arguments], cwd=REPO, env=env)
    sys.exit(result.returncode)


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in {"up", "test"}:
        sys.exit(__doc__)
    if sys.argv[1] == "up":
        up()
    else:
        test(sys.argv[2:])


if __name__ == "__main__":
    main()
