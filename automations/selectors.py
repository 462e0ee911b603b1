"""Reads on automations: the step outline with its per-step figures."""

from django.db.models import Count, Exists, OuterRef, Q

from automations.mail import CAPPED
from automations.models import Automation, AutomationVersion, Journey, JourneyStepRun
from campaigns.models import Delivery
from surveys.models import Response
from tracking.selectors.campaigns import read_by_person

MAIL_FIGURES = ("sent", "opened", "clicked", "answered", "capped")


def _mail_figures(automation: Automation, version: AutomationVersion | None) -> dict[str, dict[int, int]]:
    """Per mail step: mails sent, and how many of them a person opened, clicked, or answered a survey in.

    One grouped query per figure over the step runs' deliveries; machine events never count. "capped"
    counts the mails the frequency cap held back.
    """
    runs = JourneyStepRun.objects.filter(journey__automation=automation, version=version, delivery__isnull=False)
    delivery = OuterRef("delivery_id")
    conditions = {
        "sent": Q(delivery__status=Delivery.Status.SENT),
        "opened": Q(read_by_person(action="opened", delivery=delivery)),
        "clicked": Q(read_by_person(action="clicked", delivery=delivery)),
        "answered": Q(Exists(Response.objects.filter(delivery_id=delivery))),
    }
    figures = {
        name: dict(runs.filter(condition).values_list("step_index").annotate(n=Count("pk")).order_by())
        for name, condition in conditions.items()
    }
    capped = JourneyStepRun.objects.filter(journey__automation=automation, version=version, detail__skipped=CAPPED)
    figures["capped"] = dict(capped.values_list("step_index").annotate(n=Count("pk")).order_by())
    return figures


def automation_outline(*, automation: Automation) -> list[dict]:
    """The newest version's steps, each with how many of its journeys ran it, wait at it, and left at
    it, and for mail steps how many mails went out and were opened, clicked and answered (people
    only) or held back by the frequency cap. Older versions' figures stay with them
    (``older_versions_running`` tells how many journeys still run there)."""
    version = automation.versions.order_by("-number").first()
    steps = version.steps if version else automation.steps
    ran = dict(
        JourneyStepRun.objects.filter(journey__automation=automation, version=version)
        .values_list("step_index")
        .annotate(n=Count("pk"))
        .order_by()
    )
    at_step = {
        row["step_index"]: row
        for row in Journey.objects.filter(automation=automation, version=version)
        .values("step_index")
        .annotate(
            waiting=Count("pk", filter=Q(status=Journey.Status.ACTIVE)),
            exited=Count("pk", filter=Q(status=Journey.Status.EXITED)),
        )
        .order_by()
    }
    mail_figures = _mail_figures(automation, version)
    outline = []
    for index, step in enumerate(steps):
        figures = at_step.get(index, {})
        outline.append(
            {
                "index": index,
                "step": step,
                "entered": ran.get(index, 0),
                "waiting": figures.get("waiting", 0),
                "exited": figures.get("exited", 0),
                **{
                    name: mail_figures[name].get(index, 0) if step.get("kind") == "mail" else None
                    for name in MAIL_FIGURES
                },
            }
        )
    return outline


def older_versions_running(*, automation: Automation) -> list[tuple[int, int]]:
    """(version number, active journeys) for every version but the newest that still has journeys running."""
    newest = automation.versions.order_by("-number").values_list("number", flat=True).first()
    return list(
        Journey.objects.filter(automation=automation, status=Journey.Status.ACTIVE)
        .exclude(version__number=newest)
        .values_list("version__number")
        .annotate(n=Count("pk"))
        .order_by("version__number")
    )


def journeys_move_default_map(*, from_version: AutomationVersion, to_version: AutomationVersion) -> dict[int, int]:
    """Each old step's suggested place in the new version: the same step (kind and parameters; its
    n-th copy for the n-th, else the first), else the same position, else the new version's last step."""
    new_steps = to_version.steps
    suggested = {}
    for index, step in enumerate(from_version.steps):
        same = [new_index for new_index, new_step in enumerate(new_steps) if new_step == step]
        copy = from_version.steps[:index].count(step)
        if same:
            suggested[index] = same[copy] if copy < len(same) else same[0]
        elif new_steps:
            suggested[index] = min(index, len(new_steps) - 1)
    return suggested


def journeys_at_steps(*, automation: Automation, version: AutomationVersion) -> dict[int, int]:
    """How many active journeys wait at each step of ``version``, by step index."""
    return dict(
        Journey.objects.filter(automation=automation, version=version, status=Journey.Status.ACTIVE)
        .values_list("step_index")
        .annotate(n=Count("pk"))
        .order_by()
    )


def subscriber_journeys_export(subscriber) -> tuple[str, object]:
    """GDPR export section: the automations the subscriber went through, and how far."""
    journeys = Journey.objects.filter(subscriber=subscriber).select_related("automation").order_by("pk")
    return "automation_journeys", [
        {
            "automation": journey.automation.name,
            "status": journey.status,
            "entered_at": journey.entered_at.isoformat(),
            "ended_at": journey.ended_at.isoformat() if journey.ended_at else None,
            "exited_reason": journey.exited_reason,
            "payload": journey.payload,
            "steps_run": list(journey.step_runs.order_by("step_index").values_list("step_index", flat=True)),
        }
        for journey in journeys
    ]
