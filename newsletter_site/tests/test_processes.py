"""Worker and beat: one command line for every way they are started, and a supervisor that restarts them."""

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from campaigns.models import Campaign
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site import processes
from newsletter_site.testing import wait_until
from newsletter_site.tests.processes import (
    REPO,
    command,
    logs_shown_on_failure,
    process_environment,
    start_process,
    stop_process,
)
from subscribers.tests.factories import MailingListFactory, bulk_active_subscribers

# "celery -A", "celery --app" and "-m celery" as shell words or as list items, across lines.
CELERY_COMMAND_LINE = re.compile(r"""celery["',\s]+(-A|--app)\b|-m["',\s]+celery\b""")

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc and process groups the Linux way")


def procfile_commands() -> dict[str, list[str]]:
    lines = (REPO / "Procfile").read_text().splitlines()
    entries = (line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {name.strip(): shlex.split(text) for name, text in entries}


def test_procfile_compose_and_tests_start_worker_and_beat_from_one_command_line():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name in processes.NAMES:
        assert procfile_commands()[name] == ["python", "manage.py", "kanal_process", name, "--restart"]
        assert compose[name]["command"] == ["python", "manage.py", "kanal_process", name]
        assert command(name)[1:] == ["manage.py", "kanal_process", name]
    assert procfile_commands()["redis"] == ["python", "manage.py", "embedded_redis", "--restart"]


def test_no_other_file_spells_out_a_celery_command_line():
    """A second copy is how the fault test came to test another worker than the one production runs."""
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    allowed = {"newsletter_site/processes.py", str(Path(__file__).relative_to(REPO))}
    spelled = []
    for name in tracked:
        path = REPO / name
        if name in allowed or path.suffix not in {".py", ".yml", ".yaml", ""} or not path.is_file():
            continue
        if CELERY_COMMAND_LINE.search(path.read_text(errors="replace")):
            spelled.append(name)
    assert spelled == []


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_host_answer_under_the_node_names_they_were_given(tmp_path):
    """As two hosts would run them: each worker is its own Celery node (KANAL_WORKER_NAME)."""
    from newsletter_site.celery import app

    logs = [tmp_path / "send1.log", tmp_path / "send2.log"]
    with logs_shown_on_failure(*logs):
        workers = [
            start_process("worker", env={"KANAL_WORKER_NAME": f"{name}@%h"}, log_path=log)
            for name, log in zip(("send1", "send2"), logs, strict=True)
        ]
        try:
            host = os.uname().nodename

            def nodes():
                return {name for reply in app.control.ping(timeout=0.5) or [] for name in reply}

            wait_until(lambda: nodes() >= {f"send1@{host}", f"send2@{host}"}, timeout=60, message="both named workers")
        finally:
            for worker in workers:
                stop_process(worker, sig=signal.SIGTERM)


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]
    except FileNotFoundError:
        return []


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def the_celery_worker(supervisor: subprocess.Popen, *, not_pid: int = 0) -> int:
    """The supervisor's child once it runs the worker's command line (0 while there is none)."""
    for pid in children(supervisor.pid):
        if pid != not_pid and cmdline(pid) == processes.argv("worker"):
            return pid
    return 0


@linux_only
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_supervised_worker_comes_back_after_sigkill_and_stops_with_its_supervisor(smtp_sink, settings, tmp_path):
    env = {
        "EMAIL_BACKEND": "newsletter_site.smtp_backend.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": settings.EMAIL_PORT,
        "SITE_URL": "https://news.example.com",
    }
    log_path = tmp_path / "supervisor.log"
    with logs_shown_on_failure(log_path), log_path.open("ab") as log:
        # The Procfile's line: honcho runs it in a session of its own.
        supervisor = subprocess.Popen(
            [*command("worker"), "--restart"],
            cwd=REPO,
            env=process_environment(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            first = wait_until(lambda: the_celery_worker(supervisor), timeout=30, message="the first worker")
            os.kill(first, signal.SIGKILL)
            second = wait_until(
                lambda: the_celery_worker(supervisor, not_pid=first), timeout=30, message="a new worker"
            )
            assert supervisor.poll() is None

            # The new worker works: it sends a whole campaign.
            news = MailingListFactory()
            bulk_active_subscribers(emails=[f"r{n}@example.org" for n in range(20)], mailing_list=news)
            campaign = CampaignFactory(mailing_lists=[news])
            ArticleFactory(campaign=campaign)
            sending.campaign_start(campaign=campaign)
            wait_until(
                lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SENT,
                timeout=60,
                interval=0.2,
                message="the campaign sent by the restarted worker",
            )
            assert len(smtp_sink.recipients()) == 20

            # SIGTERM to the supervisor alone (not its group) stops the worker and its pool too.
            supervisor.send_signal(signal.SIGTERM)
            assert supervisor.wait(timeout=60) == 0
            assert not group_alive(second), "the worker or one of its pool processes outlived the supervisor"
        finally:
            if supervisor.poll() is None:
                os.killpg(supervisor.pid, signal.SIGKILL)
                supervisor.wait()
