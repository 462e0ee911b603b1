"""The steps that send mail: "mail" (an automation mail, through the campaigns' sending pipeline) and
"branch_mail" (on whether a person opened or clicked the journey's latest mail).

See docs/architecture.md, Automations, "The mail step".
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from automations.kinds import FormField, StepKind, StepResult, goto_clean, ref_clean, step_register
from automations.models import Journey
from campaigns import selectors as campaign_selectors
from campaigns.extensions import PreparedBatch
from campaigns.models import Campaign, Delivery
from campaigns.services import lifecycle, sending

MAIL, BRANCH_MAIL = "mail", "branch_mail"
CAPPED = "frequency cap"
SENDERS_SECONDS = 1


@dataclass
class _Batch:
    """What one advance_journeys task gathers: the campaigns whose senders to queue once per round,
    and each automation mail's problems, checked once per task rather than once per journey."""

    senders_wanted: set[int] = field(default_factory=set)
    problems: dict[int, list[str]] = field(default_factory=dict)


_batch: ContextVar[_Batch | None] = ContextVar("automation_mail_batch", default=None)


@contextmanager
def senders_batched() -> Iterator[None]:
    batch = _Batch()
    token = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(token)
        if batch.senders_wanted:
            _senders_start(batch.senders_wanted)


def senders_flush() -> None:
    """Queue the senders wanted so far in this batch now (after a round commits), not at its end."""
    batch = _batch.get()
    if batch is not None and batch.senders_wanted:
        wanted, batch.senders_wanted = batch.senders_wanted, set()
        _senders_start(wanted)


def _senders_want(campaign_id: int) -> None:
    batch = _batch.get()
    if batch is None:
        _senders_start({campaign_id})
    else:
        batch.senders_wanted.add(campaign_id)


def _senders_start(campaign_ids: set[int]) -> None:
    """Queue the senders of these automation mails, once a second per mail at most.

    A chain of senders goes on while the mail has queued deliveries (``send_campaign_batch``), so
    a steady stream of advance tasks need not start chains of its own each: with one set per task
    the chains, not the journeys, filled the workers' queue. A delivery added just after every
    chain ended goes with the next task's senders or, at the latest, the send sweep's.
    """
    wanted = [pk for pk in sorted(campaign_ids) if cache.add(f"automations:senders:{pk}", 1, timeout=SENDERS_SECONDS)]
    if wanted:
        sending.deliveries_added(campaign_ids=wanted)


def _frequency_cap_holds_back(*, campaign: Campaign, subscriber_ids: list[int]) -> set[int]:
    """Which of these subscribers the frequency cap across campaigns and automations keeps from this mail now."""
    if campaign.bypasses_frequency_cap:
        return set()
    return campaign_selectors.subscribers_over_frequency_cap(subscriber_ids)


def _mail_problems(params: dict) -> list[str]:
    batch = _batch.get()
    if batch is None:
        return _mail_problems_now(params)
    if params.get("campaign") not in batch.problems:
        batch.problems[params.get("campaign")] = _mail_problems_now(params)
    return batch.problems[params.get("campaign")]


def _mail_problems_now(params: dict) -> list[str]:
    campaign = Campaign.objects.filter(pk=params.get("campaign")).first()
    if campaign is None:
        return [gettext("The automation mail %(id)s no longer exists.") % {"id": params.get("campaign")}]
    if not campaign.is_automation:
        return [gettext("“%(name)s” is a newsletter, not an automation mail.") % {"name": campaign.name}]
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.SENDING, Campaign.Status.PAUSED):
        return [
            gettext("The automation mail “%(name)s” is %(status)s.")
            % {"name": campaign.name, "status": campaign.get_status_display()}
        ]
    try:
        lifecycle.campaign_check_ready(campaign=campaign)
    except ValidationError as error:
        return [
            gettext("Automation mail “%(name)s”: %(problem)s") % {"name": campaign.name, "problem": problem}
            for problem in error.messages
        ]
    return []


def _mail_run(journey, params: dict, index: int) -> StepResult:
    return _mail_run_many([journey], params, index)[0]


def _mail_run_many(journeys, params: dict, index: int) -> list[StepResult]:
    campaign = Campaign.objects.get(pk=params["campaign"])
    held_back = _frequency_cap_holds_back(campaign=campaign, subscriber_ids=[j.subscriber_id for j in journeys])
    allowed = [journey for journey in journeys if journey.subscriber_id not in held_back]
    # The journey is the occurrence: once per journey, and again on a later journey.
    added = sending.deliveries_add(
        campaign=campaign, occurrences=[(journey.subscriber_id, journey.pk) for journey in allowed]
    )
    delivery_ids = {journey.pk: delivery_id for journey, delivery_id in zip(allowed, added, strict=True)}
    if delivery_ids:
        _senders_want(campaign.pk)
    return [
        StepResult(delivery_id=delivery_ids[journey.pk])
        if journey.pk in delivery_ids
        else StepResult(detail={"skipped": CAPPED})
        for journey in journeys
    ]


PAYLOAD = "payload"


def journey_payload_values(*, campaign, delivery_ids: list[int]) -> PreparedBatch | None:
    """Batch preparer: each automation mail's ``{{ subscriber.payload.<key> }}`` from its journey (the
    delivery's occurrence), for journeys entered through the REST API with a payload."""
    if not campaign.is_automation:
        return None
    journeys = dict(Delivery.objects.filter(pk__in=delivery_ids, occurrence__gt=0).values_list("pk", "occurrence"))
    payloads = dict(
        Journey.objects.filter(pk__in=set(journeys.values())).exclude(payload={}).values_list("pk", "payload")
    )
    if not payloads:
        return None

    def values(delivery_id: int, recipient) -> dict:
        payload = payloads.get(journeys.get(delivery_id), {})
        return {"values": {f"{PAYLOAD}.{key}": str(value) for key, value in payload.items()}}

    return PreparedBatch(links=values)


def campaigns_use(*, steps: list[dict]) -> None:
    """The automation mails of these steps may send from now on (an automation using them became active)."""
    ids = {step["campaign"] for step in steps if step.get("kind") == MAIL}
    for campaign in Campaign.objects.filter(pk__in=ids, kind=Campaign.Kind.AUTOMATION, status=Campaign.Status.DRAFT):
        lifecycle.campaign_automation_use(campaign=campaign)


OPENED, CLICKED = "opened", "clicked"
BRANCH_EVENTS = {OPENED: _("opened"), CLICKED: _("clicked")}


def _branch_mail_clean(params: dict, index: int, count: int) -> dict:
    event = params.get("event")
    if event not in BRANCH_EVENTS:
        raise ValidationError(gettext("A mail branch needs “event”: “opened” or “clicked”."))
    return {"event": event, "goto": goto_clean(params, index, count)}


def _latest_mail(journey, index: int) -> int | None:
    """The delivery of the latest mail step this journey ran before ``index``; None when that step sent nothing."""
    from automations.models import JourneyStepRun

    mail_steps = [earlier for earlier, step in enumerate(journey.version.steps[:index]) if step["kind"] == MAIL]
    run = (
        JourneyStepRun.objects.filter(journey=journey, version_id=journey.version_id, step_index__in=mail_steps)
        .order_by("-step_index")
        .first()
    )
    return run.delivery_id if run else None


def _branch_mail_run(journey, params: dict, index: int) -> StepResult:
    from tracking.selectors.campaigns import delivery_read_by_person

    delivery_id = _latest_mail(journey, index)
    read = delivery_id is not None and delivery_read_by_person(delivery_id=delivery_id, action=params["event"])
    return StepResult(next_index=params["goto"] if read else None, detail={params["event"]: read})


def _nothing(params: dict) -> list[str]:
    return []


def _automation_mail_choices() -> list[tuple[int, str]]:
    return list(
        Campaign.objects.filter(kind=Campaign.Kind.AUTOMATION, is_template=False)
        .exclude(status=Campaign.Status.CANCELLED)
        .order_by("name")
        .values_list("pk", "name")
    )


def _mail_describe(params: dict) -> str:
    campaign = Campaign.objects.filter(pk=params.get("campaign")).first()
    name = campaign.name if campaign else f"#{params.get('campaign')}"
    return gettext("Send “%(name)s”") % {"name": name}


def _branch_mail_describe(params: dict) -> str:
    if params.get("event") == CLICKED:
        return gettext("Branch on whether a person clicked the latest mail")
    return gettext("Branch on whether a person opened the latest mail")


def register_mail_kinds() -> None:
    step_register(
        StepKind(
            MAIL,
            _("send a mail"),
            ref_clean("campaign"),
            _mail_problems,
            _mail_run,
            (FormField("campaign", _("automation mail"), "ref:campaigns.Campaign", choices=_automation_mail_choices),),
            _mail_describe,
            run_many=_mail_run_many,
        )
    )
    step_register(
        StepKind(
            BRANCH_MAIL,
            _("branch on the latest mail"),
            _branch_mail_clean,
            _nothing,
            _branch_mail_run,
            (
                FormField("event", _("if a person"), "choice", choices=lambda: list(BRANCH_EVENTS.items())),
                FormField("goto", _("go to step"), "step"),
            ),
            _branch_mail_describe,
            needs_earlier=MAIL,
        )
    )
