from celery import shared_task


@shared_task(acks_late=True)
def tick() -> None:
    """Queue runners while journeys are due (beat, every KANAL_AUTOMATION_TICK_SECONDS)."""
    from automations import services

    services.automations_tick()


@shared_task(acks_late=True)
def advance_journeys(slot: int) -> None:
    """Advance due journeys in runner slot ``slot``; a lost message only delays them until the next tick."""
    from automations import services

    services.runner_slot_hold(slot)
    try:
        services.journeys_advance(on_round=lambda: services.runner_slot_hold(slot))
    finally:
        services.runner_slot_free(slot)


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


@shared_task(acks_late=True)
def evaluate_offer_deadline_triggers() -> None:
    from automations import services

    services.offer_deadline_triggers_evaluate()
