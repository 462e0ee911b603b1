import contextlib
import email
import io
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from anymail.message import AnymailMessage
from django.contrib.auth import get_user_model
from django.core.management import call_command

from newsletter_site import redis_server
from newsletter_site.mail_backends import EmlDirectoryBackend
from subscribers.models import ConsentRecord, ConsentText, MailingList, Subscriber, Subscription

REPO = Path(__file__).resolve().parents[2]


def bootstrap() -> str:
    out = io.StringIO()
    call_command("kanal_bootstrap", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_bootstrap_twice_creates_everything_once_and_prints_a_working_login(settings, tmp_path, client):
    settings.VAR_DIR = tmp_path
    first = bootstrap()
    counts = [model.objects.count() for model in (MailingList, Subscriber, Subscription, ConsentRecord, ConsentText)]
    second = bootstrap()

    lists, subscribers, _subscriptions, _records, texts = counts
    assert (lists, texts) == (2, 2) and subscribers >= 300, "the starting lists and the demo"
    assert [
        model.objects.count() for model in (MailingList, Subscriber, Subscription, ConsentRecord, ConsentText)
    ] == counts
    login_line = next(line for line in first.splitlines() if "Login:" in line)
    assert login_line in second, "the same password is printed every time"
    username, password = login_line.split("Login:")[1].strip().split(" / ")
    assert get_user_model().objects.get(username=username).is_superuser
    assert client.login(username=username, password=password)
    assert client.get("/admin/", follow=True).status_code == 200
    assert "/subscribe/news/" in first


def printed_login(output: str) -> tuple[str, str]:
    login_line = next(line for line in output.splitlines() if "Login:" in line)
    username, password = login_line.split("Login:")[1].strip().split(" / ", 1)
    return username, password


@pytest.mark.django_db
def test_generated_admin_password_is_kept_private_under_var(settings, tmp_path, monkeypatch):
    monkeypatch.delenv("KANAL_ADMIN_PASSWORD", raising=False)
    settings.VAR_DIR = tmp_path
    _username, password = printed_login(bootstrap())

    password_file = tmp_path / "admin_password"
    assert password_file.read_text() == password
    assert password_file.stat().st_mode & 0o077 == 0


@pytest.mark.django_db
def test_admin_password_from_the_environment_replaces_the_generated_one(settings, tmp_path, monkeypatch, client):
    monkeypatch.delenv("KANAL_ADMIN_PASSWORD", raising=False)
    settings.VAR_DIR = tmp_path
    _username, generated = printed_login(bootstrap())
    monkeypatch.setenv("KANAL_ADMIN_PASSWORD", "chosen-by-the-team-4711")

    assert printed_login(bootstrap()) == ("admin", "chosen-by-the-team-4711")
    assert client.login(username="admin", password="chosen-by-the-team-4711")
    assert not client.login(username="admin", password=generated)


@pytest.mark.django_db
def test_bootstrap_does_not_reset_a_password_changed_in_the_admin(settings, tmp_path, monkeypatch, client):
    monkeypatch.delenv("KANAL_ADMIN_PASSWORD", raising=False)
    settings.VAR_DIR = tmp_path
    _username, generated = printed_login(bootstrap())
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed-in-the-admin-0815")
    admin.save()

    output = bootstrap()

    assert generated not in output
    assert "changepassword" in printed_login(output)[1]
    assert client.login(username="admin", password="changed-in-the-admin-0815")


def test_eml_backend_writes_one_readable_file_per_message(tmp_path):
    messages = [AnymailMessage(subject=f"Hallo {n}", body="Text", to=[f"r{n}@example.org"]) for n in range(3)]
    for message in messages:
        message.attach_alternative("<p>Text</p>", "text/html")
    sent = EmlDirectoryBackend(file_path=tmp_path).send_messages(messages)

    files = sorted(tmp_path.glob("*.eml"))
    assert sent == 3
    assert len(files) == 3
    parsed = sorted((email.message_from_bytes(path.read_bytes()) for path in files), key=lambda m: m["To"])
    assert [message["To"] for message in parsed] == ["r0@example.org", "r1@example.org", "r2@example.org"]
    assert parsed[0]["Subject"] == "Hallo 0"
    assert parsed[0].get_content_type() == "multipart/alternative"


def test_embedded_redis_starts_once_and_is_reused(tmp_path):
    socket_path = tmp_path / "r" / "redis.sock"
    redis_server.ensure_running(socket_path)
    client = redis.Redis(unix_socket_path=str(socket_path))
    try:
        client.set("kanal", "1")
        redis_server.ensure_running(socket_path)
        assert client.get("kanal") == b"1", "the running server was reused, not replaced"
    finally:
        with contextlib.suppress(redis.exceptions.ConnectionError):
            client.shutdown(nosave=True)
    assert not redis_server.is_answering(socket_path)


def test_embedded_redis_keeps_its_data_private(tmp_path):
    socket_path = tmp_path / "r" / "redis.sock"
    redis_server.ensure_running(socket_path)
    client = redis.Redis(unix_socket_path=str(socket_path))
    try:
        client.set("kanal", "1")
        client.save()
    finally:
        with contextlib.suppress(redis.exceptions.ConnectionError):
            client.shutdown(nosave=True)
    data = [path for path in socket_path.parent.iterdir() if path.name.startswith("redis.") and path.suffix != ".sock"]
    assert {path.name for path in data} >= {"redis.rdb", "redis.aof", "redis.log"}
    assert {path.name: oct(path.stat().st_mode & 0o777) for path in data} == {path.name: "0o600" for path in data}


def var_dir_env(var_dir) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "newsletter_site.settings",
        "KANAL_VAR_DIR": str(var_dir),
        "HOME": str(var_dir),
    }


def run_with_var_dir(arguments: list[str], var_dir) -> subprocess.CompletedProcess:
    env = var_dir_env(var_dir)
    return subprocess.run([sys.executable, *arguments], cwd=REPO, env=env, capture_output=True, text=True)


def stop_if_answering(socket_path) -> bool:
    answering = redis_server.is_answering(socket_path)
    if answering:
        with contextlib.suppress(redis.exceptions.ConnectionError):
            redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=True)
    return answering


def test_a_test_run_stops_the_embedded_redis_it_started(tmp_path):
    test_id = "newsletter_site/tests/test_foundation.py::test_eml_backend_writes_one_readable_file_per_message"
    result = run_with_var_dir(["-m", "pytest", "-q", "-p", "no:cacheprovider", test_id], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "redis.aof").exists(), "the run started its own embedded Redis"
    assert not stop_if_answering(tmp_path / "redis.sock"), "no redis-server outlives the test run"


def test_a_bench_stops_the_embedded_redis_it_started_but_not_one_it_found(tmp_path):
    script = (
        "import django; django.setup(); from django.conf import settings; "
        "from newsletter_site import redis_server; redis_server.ensure_running_until_exit(settings.REDIS_SOCKET); "
        "assert redis_server.is_answering(settings.REDIS_SOCKET)"
    )
    assert run_with_var_dir(["-c", script], tmp_path).returncode == 0
    assert not stop_if_answering(tmp_path / "redis.sock")

    redis_server.ensure_running(tmp_path / "redis.sock")
    try:
        assert run_with_var_dir(["-c", script], tmp_path).returncode == 0
        assert redis_server.is_answering(tmp_path / "redis.sock"), "a server someone else started keeps running"
    finally:
        stop_if_answering(tmp_path / "redis.sock")


def test_a_bench_stopped_with_sigterm_stops_the_embedded_redis_it_started(tmp_path):
    """`timeout` and Ctrl-C in a terminal's process group end a long bench with a signal, not an exit."""
    script = (
        "import sys, time, django; django.setup(); from django.conf import settings; "
        "from newsletter_site import redis_server; redis_server.ensure_running_until_exit(settings.REDIS_SOCKET); "
        "print('ready', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, env=var_dir_env(tmp_path), stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        assert redis_server.is_answering(tmp_path / "redis.sock")
        process.terminate()
        process.wait(timeout=20)
    finally:
        process.kill()
    assert not stop_if_answering(tmp_path / "redis.sock"), "no redis-server outlives a terminated bench"
