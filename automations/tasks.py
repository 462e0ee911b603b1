from celery import shared_task


@shared_task(acks_late=True)
def tick() -> None:
    """Sweep stale claims and queue the due journeys (beat, every KANAL_AUTOMATION_TICK_SECONDS)."""
    from automations import services

    services.automations_tick()


@shared_task(acks_late=True)
def advance_journeys(token: str) -> None:
    """Advance the journeys one claim took; a lost message only delays them until the sweeper."""
    from automations import services

    services.journeys_advance(token=token)


@shared_task(acks_late=True)
def evaluate_segment_triggers() -> None:
    from automations import services

    services.segment_triggers_evaluate()


@shared_task(acks_late=True)
def evaluate_date_triggers() -> None:
    from automations import services

    services.date_triggers_evaluate()


@shared_task(acks_late=True)
def evaluate_inactivity_triggers() -> None:
    from automations import services

    services.inactivity_triggers_evaluate()
