import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction

from automations import services
from automations.models import Automation, Journey


def active_automation(*, steps, trigger_kind="tag_added", trigger_params=None, **fields) -> Automation:
    automation = Automation.objects.create(
        name=fields.pop("name", "Welcome"),
        trigger_kind=trigger_kind,
        trigger_params=trigger_params or {},
        steps=steps,
        **fields,
    )
    return services.automation_activate(automation=automation)


def run_due() -> int:
    """What a worker's runner does, in this process: advance due journeys round after round."""
    return services.journeys_advance(seconds=3600)


@contextmanager
def runner_holding(journey: Journey) -> Iterator[None]:
    """Another runner's round in progress: a second connection holds the journey's row lock."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Journey.objects.select_for_update().get(pk=journey.pk)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10), "the other runner did not take the lock"
    try:
        yield
    finally:
        release.set()
        holder.join()
