from automations import services
from automations.models import Automation


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
    """What the tick and the worker do, in this process: claim due journeys and advance them."""
    advanced = 0
    while (token := services.journeys_claim(limit=100)) is not None:
        advanced += services.journeys_advance(token=token)
    return advanced
