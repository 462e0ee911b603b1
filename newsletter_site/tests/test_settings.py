"""The settings module is driven by the environment; each case runs in a fresh interpreter."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
from django.conf import settings
django.setup()
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST", ""),
    "redis_url": settings.REDIS_URL, "broker": settings.CELERY_BROKER_URL, "embedded": settings.REDIS_EMBEDDED,
    "email_backend": settings.EMAIL_BACKEND, "anymail": settings.ANYMAIL, "site_url": settings.SITE_URL,
    "time_zone": settings.TIME_ZONE, "secret_key": settings.SECRET_KEY, "languages": [c for c, _ in settings.LANGUAGES],
}))
"""


def settings_under(env: dict, tmp_path: Path, *, probe: str = PROBE) -> dict:
    """What a fresh process with this environment prints from ``probe`` (settings are read at import)."""
    base = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "newsletter_site.settings",
        "KANAL_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=base | env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_defaults_need_nothing_installed(tmp_path):
    values = settings_under({}, tmp_path)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "kanal.sqlite3")
    assert values["embedded"] is True
    assert values["redis_url"] == f"unix://{tmp_path}/redis.sock?db=0"
    assert values["broker"] == f"redis+socket://{tmp_path}/redis.sock"
    assert values["email_backend"] == "newsletter_site.mail_backends.EmlDirectoryBackend"
    assert values["time_zone"] == "Europe/Berlin"
    assert values["languages"] == ["de", "en"]


def test_generated_secret_key_is_kept_across_restarts(tmp_path):
    first = settings_under({}, tmp_path)["secret_key"]
    second = settings_under({}, tmp_path)["secret_key"]
    assert len(first) >= 50
    assert first == second
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_overrides_every_default(tmp_path):
    values = settings_under(
        {
            "DATABASE_URL": "postgres://kanal:pw@db.internal:5432/kanal",
            "REDIS_URL": "redis://cache.internal:6379/2",
            "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
            "ANYMAIL_POSTMARK_SERVER_TOKEN": "token-123",
            "ANYMAIL_WEBHOOK_SECRET": "kanal:one,kanal:two",
            "SITE_URL": "https://news.example.com/",
            "SECRET_KEY": "x" * 60,
            "TIME_ZONE": "UTC",
        },
        tmp_path,
    )
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["host"] == "db.internal"
    assert values["embedded"] is False
    assert values["broker"] == values["redis_url"] == "redis://cache.internal:6379/2"
    assert values["email_backend"] == "anymail.backends.postmark.EmailBackend"
    assert values["anymail"] == {"POSTMARK_SERVER_TOKEN": "token-123", "WEBHOOK_SECRET": ["kanal:one", "kanal:two"]}
    assert values["site_url"] == "https://news.example.com"
    assert values["secret_key"] == "x" * 60
    assert values["time_zone"] == "UTC"


def test_secret_key_file_is_never_written_through_a_planted_link(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret_key").symlink_to(elsewhere)

    with pytest.raises(subprocess.CalledProcessError):
        settings_under({}, tmp_path / "var")

    assert not elsewhere.exists(), "the key went only where it was created 0600, never through a link"


def test_sqlite_database_and_its_wal_are_private_from_the_start(tmp_path):
    probe = (
        "import django; django.setup(); "
        "from django.db import connection; connection.cursor().execute('CREATE TABLE t (x)')"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "newsletter_site.settings",
        "KANAL_VAR_DIR": str(tmp_path),
    }
    subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, check=True)

    files = sorted(tmp_path.glob("kanal.sqlite3*"))
    assert files, "the database was created"
    assert {path.name: oct(path.stat().st_mode & 0o777) for path in files} == {path.name: "0o600" for path in files}


def production_environment(tmp_path: Path) -> dict:
    """The environment ``scripts/kanal.py check-deploy`` (run by CI) checks under."""
    spec = importlib.util.spec_from_file_location("kanal_script", REPO / "scripts" / "kanal.py")
    kanal_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kanal_script)
    return kanal_script.production_like_environment(str(tmp_path))


def test_deploy_check_is_clean_in_a_production_environment(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=production_environment(tmp_path),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + result.stdout


# Only the settings: with S3 chosen and django-storages absent, django.setup() itself stops with
# "Could not find backend 'storages.backends.s3.S3Storage'".
STORAGE_PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "storages": {name: [storage["BACKEND"], storage.get("OPTIONS", {}).get("location")]
                 for name, storage in settings.STORAGES.items()},
}, default=str))
"""


def probe_storages(env: dict, tmp_path: Path) -> dict:
    return settings_under(env, tmp_path, probe=STORAGE_PROBE)


def test_uploads_are_private_unless_public_and_the_public_root_holds_no_private_root(tmp_path):
    storages = probe_storages({}, tmp_path)["storages"]
    assert storages["default"] == ["django.core.files.storage.FileSystemStorage", str(tmp_path / "private")]
    assert storages["public"] == ["django.core.files.storage.FileSystemStorage", None], "follows MEDIA_ROOT"


def test_s3_storage_is_chosen_by_the_environment(tmp_path):
    storages = probe_storages({"KANAL_S3_BUCKET": "kanal-uploads"}, tmp_path)["storages"]
    assert storages["default"] == ["storages.backends.s3.S3Storage", "private"]
    assert storages["public"] == ["storages.backends.s3.S3Storage", "media"]


def test_celery_broker_url_puts_the_task_queues_on_rabbitmq(tmp_path):
    probe = PROBE.replace(
        '"broker": settings.CELERY_BROKER_URL,',
        '"broker": settings.CELERY_BROKER_URL, "options": settings.CELERY_BROKER_TRANSPORT_OPTIONS,',
    )
    values = settings_under(
        {"REDIS_URL": "redis://cache.internal:6379/2", "CELERY_BROKER_URL": "amqp://kanal:pw@mq.internal:5672//"},
        tmp_path,
        probe=probe,
    )
    assert values["broker"] == "amqp://kanal:pw@mq.internal:5672//"
    assert values["redis_url"] == "redis://cache.internal:6379/2", "Redis stays the cache"
    assert values["options"]["confirm_publish"] is True
    assert "retry_on_timeout" not in values["options"], "no Redis transport options on RabbitMQ"
