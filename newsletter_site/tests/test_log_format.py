"""KANAL_LOG_FORMAT=json: JSON lines, masked addresses and tokens, Django's request object left out."""

import io
import json
import logging
import socket
import subprocess
import sys

import pytest

from newsletter_site.log_format import JsonFormatter, redact
from newsletter_site.tests.processes import REPO, process_environment

pytestmark = pytest.mark.django_db


def test_django_request_lines_lose_the_token_in_the_path_and_the_request_object(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    request_logger = logging.getLogger("django.request")
    request_logger.addHandler(handler)
    token = "eyJzIjo1LCJuIjoiYWJjIn0:1tQ2xY:Zm9vYmFyYmF6cXV4"
    try:
        assert client.get(f"/confirm/{token}/x/").status_code == 404
    finally:
        request_logger.removeHandler(handler)

    record = json.loads(stream.getvalue().splitlines()[-1])
    assert record["message"] == "Not Found: /confirm/[token]/x/"
    assert record["status_code"] == 404 and "request" not in record
    assert "Zm9v" not in stream.getvalue()


def test_redact_masks_addresses_and_token_segments_but_not_file_paths():
    line = (
        'File "/app/campaigns/tests/test_fault_injection.py" {"reader@example.org": (550, b"no")} /t/o/AbCdEfGhIjKlMnOp'
    )
    assert (
        redact(line) == 'File "/app/campaigns/tests/test_fault_injection.py" {"[address]": (550, b"no")} /t/o/[token]'
    )


def shell(code: str, *, log_format: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO,
        env=process_environment({"KANAL_LOG_FORMAT": log_format}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_setting_turns_json_lines_on_and_refuses_a_typo():
    done = shell(
        "import logging; logging.getLogger('kanal').warning('hi', extra={'campaign_id': 7})", log_format="json"
    )
    record = json.loads(done.stderr.strip().splitlines()[-1])
    assert (record["level"], record["logger"], record["message"], record["campaign_id"]) == (
        "WARNING",
        "kanal",
        "hi",
        7,
    )

    typo = subprocess.run(
        [sys.executable, "-c", "import newsletter_site.settings"],
        cwd=REPO,
        env=process_environment({"KANAL_LOG_FORMAT": "jsonl"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert typo.returncode == 1 and "KANAL_LOG_FORMAT must be text or json, not 'jsonl'" in typo.stderr


def test_times_are_utc_in_iso_8601_whatever_the_process_time_zone():
    record = logging.LogRecord("kanal", logging.INFO, __file__, 1, "hi", None, None)
    record.created = 1_796_000_000.25  # 2026-11-30 00:53:20.250 UTC

    assert json.loads(JsonFormatter().format(record))["time"] == "2026-11-30T00:53:20.250Z"


def test_gunicorn_started_as_in_production_writes_its_own_lines_as_json():
    """The Dockerfile's command line; gunicorn reads gunicorn.conf.py from the working directory."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "gunicorn", "newsletter_site.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", "1"]
    gunicorn = subprocess.Popen(
        command, cwd=REPO, env=process_environment({"KANAL_LOG_FORMAT": "json"}), stderr=subprocess.PIPE, text=True
    )
    lines = []
    try:
        for line in gunicorn.stderr:
            lines.append(line)
            if "Booting worker" in line:
                break
    finally:
        gunicorn.terminate()
        lines += gunicorn.communicate(timeout=60)[1].splitlines()

    records = [json.loads(line) for line in lines if line.strip()]
    messages = [record["message"] for record in records if record["logger"] == "gunicorn.error"]
    assert messages[0].startswith("Starting gunicorn")
    assert any(message.startswith("Booting worker") for message in messages)
    assert any(message.startswith("Shutting down") for message in messages)
    assert all(record["time"].endswith("Z") for record in records)
