"""The registries of trigger kinds and step kinds, with their parameter checks and broken-reference checks.

A kind's ``clean`` raises ValidationError for malformed parameters (wrong shape); its ``problems``
lists what is wrong with well-formed ones now (a deleted tag, list or segment). An automation with
problems cannot be activated, and a step whose reference broke later exits its journeys.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audience.models import Segment
from audience.selectors import segment_problems
from subscribers.models import MailingList, Tag


@dataclass(frozen=True)
class StepResult:
    """What the runner does after a step: go on at ``next_index`` (None: the next step), when ``due_at``
    (None: now), or end the journey with ``exit_reason``; ``delivery_id`` is the mail the step queued."""

    next_index: int | None = None
    wait: timedelta | None = None
    exit_reason: str = ""
    detail: dict = field(default_factory=dict)
    delivery_id: int | None = None


@dataclass(frozen=True)
class TriggerKind:
    key: str
    label: str
    clean: Callable[[dict], dict]
    problems: Callable[[dict], list[str]]


@dataclass(frozen=True)
class StepKind:
    key: str
    label: str
    clean: Callable[[dict, int, int], dict]  # (params, own index, number of steps)
    problems: Callable[[dict], list[str]]
    # (journey, params, own index) -> StepResult; runs inside the transaction that records the run.
    run: Callable[..., StepResult]
    # A step kind that must come before this one (a branch on the latest mail needs a mail).
    needs_earlier: str = ""


TRIGGERS: dict[str, TriggerKind] = {}
STEPS: dict[str, StepKind] = {}


def trigger_register(kind: TriggerKind) -> None:
    TRIGGERS[kind.key] = kind


def step_register(kind: StepKind) -> None:
    STEPS[kind.key] = kind


def _ref(params: dict, name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(gettext("“%(name)s” must be the id of an existing object.") % {"name": name})
    return value


def ref_clean(name: str) -> Callable:
    def clean(params: dict, *_args) -> dict:
        return {name: _ref(params, name)}

    return clean


def _missing(model, name: str, message) -> Callable[[dict], list[str]]:
    """``message`` is a whole sentence with %(id)s, so each language can word it for the noun's gender."""

    def problems(params: dict) -> list[str]:
        if model.objects.filter(pk=params.get(name)).exists():
            return []
        return [str(message) % {"id": params.get(name)}]

    return problems


TAG_GONE = _("The tag %(id)s no longer exists.")
LIST_GONE = _("The mailing list %(id)s no longer exists.")


def _segment_problems(params: dict) -> list[str]:
    segment = Segment.objects.filter(pk=params.get("segment")).first()
    if segment is None:
        return [gettext("The segment %(id)s no longer exists.") % {"id": params.get("segment")}]
    return [
        gettext("Segment “%(name)s”: %(problem)s") % {"name": segment.name, "problem": problem}
        for problem in segment_problems(segment)
    ]


def _no_params(params: dict, *_args) -> dict:
    if params:
        raise ValidationError(gettext("This step takes no parameters."))
    return {}


WAIT_UNITS = {"days": _("days"), "hours": _("hours"), "minutes": _("minutes"), "seconds": _("seconds")}


def _wait_clean(params: dict, *_args) -> dict:
    unknown = set(params) - set(WAIT_UNITS)
    if unknown:
        raise ValidationError(gettext("A wait takes only days, hours, minutes and seconds."))
    cleaned = {}
    for unit in WAIT_UNITS:
        value = params.get(unit, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(
                gettext("A wait's “%(unit)s” must be a whole number of zero or more.") % {"unit": WAIT_UNITS[unit]}
            )
        if value:
            cleaned[unit] = value
    if not cleaned:
        raise ValidationError(gettext("A wait must last longer than zero."))
    return cleaned


def _wait_run(journey, params: dict, index: int) -> StepResult:
    return StepResult(wait=timedelta(**params))


def _tag_add_run(journey, params: dict, index: int) -> StepResult:
    journey.subscriber.tags.add(params["tag"])
    return StepResult()


def _tag_remove_run(journey, params: dict, index: int) -> StepResult:
    journey.subscriber.tags.remove(params["tag"])
    return StepResult()


def _list_subscribe_run(journey, params: dict, index: int) -> StepResult:
    from subscribers import selectors
    from subscribers.services import optin

    subscriber = journey.subscriber
    # Double opt-in as for any other sign-up: the subscriber is on the list only once they confirm.
    optin.subscriber_subscribe(
        email=subscriber.email,
        mailing_list=MailingList.objects.get(pk=params["list"]),
        consent_text=selectors.consent_text_current(language=subscriber.language),
        source_url=f"automation:{journey.automation_id}",
    )
    return StepResult()


def _list_unsubscribe_run(journey, params: dict, index: int) -> StepResult:
    from subscribers.services import preferences

    preferences.subscriber_unsubscribe(
        subscriber=journey.subscriber,
        mailing_list=MailingList.objects.get(pk=params["list"]),
        source=f"automation:{journey.automation_id}",
    )
    return StepResult()


def goto_clean(params: dict, index: int, count: int) -> int:
    goto = params.get("goto")
    # Only forward: a journey runs each step at most once (JourneyStepRun is unique per step).
    if isinstance(goto, bool) or not isinstance(goto, int) or not index < goto <= count:
        raise ValidationError(
            gettext("A branch must go to a later step: a step number from %(low)s to %(high)s (the end).")
            % {"low": index + 1, "high": count}
        )
    return goto


def _branch_clean(params: dict, index: int, count: int) -> dict:
    segment = _ref(params, "segment")
    return {"segment": segment, "goto": goto_clean(params, index, count)}


def _branch_run(journey, params: dict, index: int) -> StepResult:
    from audience.selectors import segment_members

    segment = Segment.objects.get(pk=params["segment"])
    member = segment_members(segment).filter(pk=journey.subscriber_id).exists()
    return StepResult(next_index=params["goto"] if member else None, detail={"member": member})


def _exit_run(journey, params: dict, index: int) -> StepResult:
    return StepResult(exit_reason="exit step")


def steps_clean(steps) -> list[dict]:
    """The steps list with each step's parameters checked; ValidationError naming every bad step."""
    if not isinstance(steps, list):
        raise ValidationError(gettext("The steps must be a list."))
    cleaned, errors = [], []
    for index, step in enumerate(steps):
        kind = STEPS.get(step.get("kind")) if isinstance(step, dict) else None
        if kind is None:
            errors.append(gettext("Step %(number)s: unknown kind.") % {"number": index})
            continue
        params = {key: value for key, value in step.items() if key != "kind"}
        try:
            if kind.needs_earlier and not any(
                isinstance(earlier, dict) and earlier.get("kind") == kind.needs_earlier for earlier in steps[:index]
            ):
                raise ValidationError(
                    gettext("a “%(kind)s” step must come before it.") % {"kind": STEPS[kind.needs_earlier].label}
                )
            cleaned.append({"kind": kind.key, **kind.clean(params, index, len(steps))})
        except ValidationError as error:
            errors.extend(gettext("Step %(number)s: %(error)s") % {"number": index, "error": m} for m in error.messages)
    if errors:
        raise ValidationError(errors)
    return cleaned


def steps_problems(steps: list[dict]) -> list[str]:
    try:
        steps = steps_clean(steps)
    except ValidationError as error:
        return list(error.messages)
    problems = []
    for index, step in enumerate(steps):
        params = {key: value for key, value in step.items() if key != "kind"}
        problems.extend(
            gettext("Step %(number)s: %(problem)s") % {"number": index, "problem": problem}
            for problem in STEPS[step["kind"]].problems(params)
        )
    return problems


def trigger_clean(kind_key: str, params) -> dict:
    kind = TRIGGERS.get(kind_key)
    if kind is None:
        raise ValidationError(gettext("Unknown trigger."))
    if not isinstance(params, dict):
        raise ValidationError(gettext("The trigger parameters must be an object."))
    return kind.clean(params)


def trigger_problems(kind_key: str, params) -> list[str]:
    try:
        params = trigger_clean(kind_key, params)
    except ValidationError as error:
        return list(error.messages)
    return TRIGGERS[kind_key].problems(params)


def _nothing(params: dict) -> list[str]:
    return []


# Trigger keys, named here because the receivers in automations.signals look them up.
SUBSCRIPTION_CONFIRMED, TAG_ADDED, SEGMENT_JOINED = "subscription_confirmed", "tag_added", "segment_joined"


def register_builtin_kinds() -> None:
    for trigger in (
        TriggerKind(
            SUBSCRIPTION_CONFIRMED,
            _("subscription confirmed"),
            ref_clean("list"),
            _missing(MailingList, "list", LIST_GONE),
        ),
        TriggerKind(TAG_ADDED, _("tag added"), ref_clean("tag"), _missing(Tag, "tag", TAG_GONE)),
        TriggerKind(SEGMENT_JOINED, _("joined a segment"), ref_clean("segment"), _segment_problems),
    ):
        trigger_register(trigger)
    for step in (
        StepKind("wait", _("wait"), _wait_clean, _nothing, _wait_run),
        StepKind("tag_add", _("add tag"), ref_clean("tag"), _missing(Tag, "tag", TAG_GONE), _tag_add_run),
        StepKind("tag_remove", _("remove tag"), ref_clean("tag"), _missing(Tag, "tag", TAG_GONE), _tag_remove_run),
        StepKind(
            "list_subscribe",
            _("subscribe to list"),
            ref_clean("list"),
            _missing(MailingList, "list", LIST_GONE),
            _list_subscribe_run,
        ),
        StepKind(
            "list_unsubscribe",
            _("unsubscribe from list"),
            ref_clean("list"),
            _missing(MailingList, "list", LIST_GONE),
            _list_unsubscribe_run,
        ),
        StepKind("branch", _("branch on a segment"), _branch_clean, _segment_problems, _branch_run),
        StepKind("exit", _("exit"), _no_params, _nothing, _exit_run),
    ):
        step_register(step)
