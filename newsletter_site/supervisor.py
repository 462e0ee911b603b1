"""Keep one child process running: start it again when it dies, stop it when told to.

For the Procfile (``python3 scripts/kanal.py up`` runs it with honcho, which stops every process
as soon as one exits and never restarts any). Docker Compose needs none of this: its ``restart``
policies do the same for each container.
"""

import logging
import os
import signal
import subprocess
import time

from billiard.util import set_pdeathsig

logger = logging.getLogger(__name__)

# A child that ran this long before dying was healthy: the next restart waits the shortest time again.
HEALTHY_SECONDS = 60.0
FIRST_PAUSE = 1.0
LONGEST_PAUSE = 30.0


def _child_setup(umask: int | None):
    def setup() -> None:
        # The child never outlives this supervisor, even one killed with SIGKILL (honcho does
        # that five seconds after its SIGTERM). Celery's pool processes do the same for their parent.
        set_pdeathsig(signal.SIGKILL)
        if umask is not None:
            os.umask(umask)

    return setup


def supervise(argv: list[str], *, name: str, umask: int | None = None) -> int:
    """Run ``argv`` until SIGTERM or SIGINT; start it again, with a growing pause, whenever it exits.

    The signal is passed on to the child as SIGTERM (Celery's warm shutdown, Redis's clean one),
    and this returns the child's exit code once it has exited. The child runs in its own process
    group, so a signal sent to this supervisor's group (honcho, a terminal's Ctrl-C) reaches it once,
    through here.
    """
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    pause = FIRST_PAUSE
    while True:
        started = time.monotonic()
        child = subprocess.Popen(argv, preexec_fn=_child_setup(umask), process_group=0)  # noqa: S603
        if stopping:  # the signal came while the child was being started
            child.send_signal(signal.SIGTERM)
        logger.info("%s started (pid %d)", name, child.pid)
        returncode = child.wait()
        if stopping:
            return returncode
        if time.monotonic() - started > HEALTHY_SECONDS:
            pause = FIRST_PAUSE
        logger.error("%s (pid %d) exited with code %s; starting it again in %g s", name, child.pid, returncode, pause)
        deadline = time.monotonic() + pause
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.1)
        if stopping:
            return returncode
        pause = min(pause * 2, LONGEST_PAUSE)
