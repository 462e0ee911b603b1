"""/healthz and ``manage.py kanal_health``: real database, real Redis, real workers."""

import json
import subprocess
import sys
import time

import pytest
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from dashboard import health
from dashboard.wsgi import OpsFastPath
from newsletter_site.testing import wait_until
from newsletter_site.tests.processes import (
    REPO,
    logs_shown_on_failure,
    process_environment,
    start_process,
    stop_process,
)
from tracking import event_queue
from tracking.services import events
from tracking.tests.test_wsgi import call as wsgi_call

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


@pytest.fixture
def production_like(settings):
    """HTTPS redirect on and one public host name, as behind a proxy in production."""
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["news.example.com"]


@pytest.fixture(autouse=True)
def _migrations_checked_again(monkeypatch):
    monkeypatch.setitem(health._migrations, "applied", False)


def call(path, *, method="GET", host="10.0.0.5:8000", authorization=None):
    """A request as a load balancer or Prometheus sends it: by address, over plain HTTP."""
    application = OpsFastPath(get_wsgi_application())
    if authorization is not None:
        inner = application

        def application(environ, start_response):
            return inner({**environ, "HTTP_AUTHORIZATION": authorization}, start_response)

    status, headers, body = wsgi_call(application, path, method=method, host=host, remote_addr="10.0.0.1")
    return int(status.split()[0]), headers, body


def test_load_balancer_probing_by_address_over_http_gets_the_checks(production_like):
    status, headers, body = call("/healthz")

    assert status == 200
    assert json.loads(body) == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "migrations": "ok"}}
    assert headers["Content-Type"] == "application/json" and headers["Cache-Control"] == "no-store"
    # Every other page keeps Django's rules: the same request is refused (unknown host) ...
    assert call("/admin/login/")[0] == 400
    # ... and with the public name redirected to https.
    assert call("/admin/login/", host="news.example.com")[0] == 301


def test_healthz_is_read_only_and_head_has_no_body(production_like):
    status, headers, body = call("/healthz", method="HEAD")
    assert (status, body) == (200, b"") and int(headers["Content-Length"]) > 0
    status, headers, _body = call("/healthz", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_redis_gone_is_a_503_naming_the_cache_and_not_its_address(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": UNREACHABLE_REDIS}
    }
    status, _headers, body = call("/healthz")

    assert status == 503
    assert json.loads(body) == {"status": "fail", "checks": {"database": "ok", "cache": "fail", "migrations": "ok"}}
    assert b"127.0.0.1" not in body and b"redis" not in body


def test_a_migration_not_applied_fails_the_check():
    leaf = max(name for app, name in MigrationRecorder(connection).applied_migrations() if app == "webhooks")
    MigrationRecorder(connection).record_unapplied("webhooks", leaf)

    status, _headers, body = call("/healthz")

    assert status == 503 and json.loads(body)["checks"]["migrations"] == "fail"


def test_migrations_once_seen_applied_are_not_read_again(django_assert_num_queries):
    assert health.web_checks()["migrations"]
    with django_assert_num_queries(1):  # SELECT 1 alone
        assert health.web_checks() == {"database": True, "cache": True, "migrations": True}


def test_web_check_command_exits_1_with_the_failed_check(settings, capsys):
    call_command("kanal_health", "web")
    assert json.loads(capsys.readouterr().out)["status"] == "ok"

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": UNREACHABLE_REDIS}
    }
    with pytest.raises(SystemExit) as exit_info:
        call_command("kanal_health", "web")
    assert exit_info.value.code == 1
    assert json.loads(capsys.readouterr().out)["web"]["cache"] == "fail"


def test_worker_check_pings_the_running_worker(celery_worker_thread, capsys):
    call_command("kanal_health", "worker", "--node", celery_worker_thread.hostname)
    assert json.loads(capsys.readouterr().out)["worker"]["answered"] == [celery_worker_thread.hostname]
    call_command("kanal_health", "worker", "--any")

    with pytest.raises(SystemExit) as exit_info:
        call_command("kanal_health", "worker", "--node", "celery@no-such-host", "--timeout", "0.5")
    assert exit_info.value.code == 1


@pytest.mark.worker
def test_worker_check_answers_after_redis_dropped_every_connection(celery_worker_thread, settings, capsys):
    """A long-lived process (the web, a test run) keeps broker connections in Celery's pool; a
    broker restart leaves them dead, and the check must not report the worker down for that."""
    import redis

    from newsletter_site.celery import app

    assert health.workers_ping(node=celery_worker_thread.hostname, timeout=5) == [celery_worker_thread.hostname]
    if settings.BROKER_IS_AMQP:
        closed = subprocess.run(
            ["rabbitmqctl", "close_all_connections", "a test drops every connection"], capture_output=True, timeout=60
        )
        assert closed.returncode == 0, closed.stderr
    else:
        redis.Redis.from_url(settings.REDIS_URL).client_kill_filter(_type="normal", skipme=True)

    def worker_is_back() -> bool:  # asked over a connection of the test's own: the pool's stay dead
        with app.connection_for_write() as connection:
            return bool(app.control.ping(destination=[celery_worker_thread.hostname], connection=connection))

    wait_until(worker_is_back, timeout=30, interval=0.2, message="the worker to reconnect")
    call_command("kanal_health", "worker", "--node", celery_worker_thread.hostname)

    assert json.loads(capsys.readouterr().out)["worker"]["answered"] == [celery_worker_thread.hostname]


def health_command(check: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "kanal_health", check, *args],
        cwd=REPO,
        env=process_environment(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_web_check_with_the_database_down_fails_and_says_which_check_failed():
    """A process started against a database that does not answer (nothing listens on port 9)."""
    result = health_command("web", env={"DATABASE_URL": "postgres://kanal@127.0.0.1:9/kanal"})

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)["web"]
    assert report == {"database": "fail", "cache": "ok", "migrations": "fail"}
    assert "127.0.0.1:9" not in result.stdout  # the reason goes to the log only


def test_compose_healthcheck_sees_the_production_worker_on_its_host_with_json_logs(transactional_db, tmp_path):
    """The command docker-compose.yml runs, beside a worker started as production starts it."""
    assert health_command("worker", "--timeout", "1", env={}).returncode == 1

    log_path = tmp_path / "worker.log"
    worker = start_process("worker", env={"KANAL_LOG_FORMAT": "json"}, log_path=log_path)
    with logs_shown_on_failure(log_path):
        try:
            wait_until(
                lambda: health_command("worker", "--timeout", "1", env={}).returncode == 0,
                timeout=60,
                interval=0.5,
                message="the worker answering its healthcheck",
            )
            records = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
            assert any("ready" in record["message"] for record in records)
            assert {"time", "level", "logger", "message"} <= set(records[0])
        finally:
            stop_process(worker)


def test_batcher_lag_is_the_age_of_the_oldest_event_waiting_in_redis(capsys):
    assert event_queue.lag_seconds() == 0.0
    two_minutes_ago = int(time.time() * 1000) - 120_000
    line = event_queue.event_line(kind="o", head=False, ip_hash="", user_agent="Mail", occurred_ms=two_minutes_ago)
    assert event_queue.push(line)
    assert event_queue.push(event_queue.event_line(kind="o", head=False, ip_hash="", user_agent="Mail"))

    assert 119 < event_queue.lag_seconds() < 130
    with pytest.raises(SystemExit):
        call_command("kanal_health", "batcher", "--max-lag", "60")
    assert json.loads(capsys.readouterr().out)["status"] == "fail"

    events.events_process()
    assert event_queue.lag_seconds() == 0.0
    call_command("kanal_health", "batcher", "--max-lag", "60")
