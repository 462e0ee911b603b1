"""KANAL_LOG_FORMAT=json: JSON lines, masked addresses and tokens, Django's request object left out."""

import io
import json
import logging
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
