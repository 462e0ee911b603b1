"""The registries of trigger kinds and step kinds, with their parameter checks and broken-reference checks.

A kind's ``clean`` raises ValidationError for malformed parameters (wrong shape); its ``problems``
lists what is wrong with well-formed ones now (a deleted tag, list or segment). An automation with
problems cannot be activated, and a step whose reference broke later exits its journeys.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import get_language, gettext, ngettext
from django.utils.translation import gettext_lazy as _

from audience.models import Segment
from audience.selectors import segment_problems
from subscribers.models import CustomField, MailingList, Tag
from subscribers.selectors import subscriber_zone


@dataclass(frozen=True)
class StepResult:
    """What the runner does after a step: go on at ``next_index`` (None: the next step), when ``due_at``
    (None: now), or end the journey with ``exit_reason``; ``delivery_id`` is the mail the step queued."""

    next_index: int | None = None
    wait: timedelta | None = None
    until: datetime | None = None  # a due moment of its own; wins over ``wait``
    exit_reason: str = ""
    detail: dict = field(default_factory=dict)
    delivery_id: int | None = None


@dataclass(frozen=True)
class FormField:
    """One parameter as the structured step editor shows it.

    ``type``: int, text, time ("HH:MM"), weekdays (a list of 0–6, Monday 0), bool, choice (``choices``
    gives the (value, label) pairs, asked when the editor is built), step (a later step's number, or
    the end), or ref:<app.Model> (an object's id, chosen by its name; ``choices`` may narrow the objects).
    """

    name: str
    label: str
    type: str
    required: bool = True
    choices: Callable[[], list[tuple]] | None = None


@dataclass(frozen=True)
class TriggerKind:
    key: str
    label: str
    clean: Callable[[dict], dict]
    problems: Callable[[dict], list[str]]
    # Behavioural triggers: only subscribers who allow individual tracking at the moment of entry enter.
    needs_tracking_consent: bool = field(default=False, kw_only=True)
    form_fields: tuple[FormField, ...] = field(default=(), kw_only=True)


@dataclass(frozen=True)
class StepKind:
    key: str
    label: str
    clean: Callable[[dict, int, int], dict]  # (params, own index, number of steps)
    problems: Callable[[dict], list[str]]
    # (journey, params, own index) -> StepResult; runs inside the transaction that records the run.
    run: Callable[..., StepResult]
    # Empty: the editor offers the parameters as JSON.
    form_fields: tuple[FormField, ...] = ()
    # (params) -> what the step does, in words ("Wait 2 days"); None: the kind's label.
    describe: Callable[[dict], str] | None = None
    # A step kind that must come before this one (a branch on the latest mail needs a mail).
    needs_earlier: str = field(default="", kw_only=True)
    # (journeys, params, own index) -> one StepResult per journey, in their order: ``run`` for many
    # journeys at the same step at once, in the runner's transaction. None: ``run``, one by one.
    run_many: Callable[..., list[StepResult]] | None = field(default=None, kw_only=True)


TRIGGERS: dict[str, TriggerKind] = {}
STEPS: dict[str, StepKind] = {}


def trigger_register(kind: TriggerKind) -> None:
    TRIGGERS[kind.key] = kind


def step_register(kind: StepKind) -> None:
    STEPS[kind.key] = kind


def ref(params: dict, name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError(gettext("“%(name)s” must be the id of an existing object.") % {"name": name})
    return value


def ref_clean(name: str) -> Callable:
    def clean(params: dict, *_args) -> dict:
        return {name: ref(params, name)}

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


def _wait_run_many(journeys, params: dict, index: int) -> list[StepResult]:
    return [StepResult(wait=timedelta(**params))] * len(journeys)


def _wait_describe(params: dict) -> str:
    parts = []
    for unit, count in params.items():
        if unit == "days":
            parts.append(ngettext("%(count)s day", "%(count)s days", count) % {"count": count})
        elif unit == "hours":
            parts.append(ngettext("%(count)s hour", "%(count)s hours", count) % {"count": count})
        elif unit == "minutes":
            parts.append(ngettext("%(count)s minute", "%(count)s minutes", count) % {"count": count})
        elif unit == "seconds":
            parts.append(ngettext("%(count)s second", "%(count)s seconds", count) % {"count": count})
    return gettext("Wait %(duration)s") % {"duration": ", ".join(parts)}


TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)\Z")
WEEKDAY_NAMES = (_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday"))


def _wait_until_clean(params: dict, *_args) -> dict:
    if set(params) - {"time", "weekdays"}:
        raise ValidationError(gettext("A wait until takes only a time and weekdays."))
    moment = params.get("time")
    if not isinstance(moment, str) or not TIME_RE.match(moment):
        raise ValidationError(gettext("Give the time of day as HH:MM, e.g. 09:30."))
    cleaned = {"time": moment}
    weekdays = params.get("weekdays")
    if weekdays:
        if not isinstance(weekdays, list) or any(
            isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6 for day in weekdays
        ):
            raise ValidationError(gettext("Weekdays are numbers from 0 (Monday) to 6 (Sunday)."))
        cleaned["weekdays"] = sorted(set(weekdays))
    return cleaned


def wait_until_due(*, params: dict, zone, now: datetime) -> datetime:
    """The first moment after ``now`` at the step's time of day, on one of its weekdays, in ``zone``.

    A local time that does not exist that day (clocks go forward) comes as late as the gap is long;
    one that happens twice (clocks go back) is taken the first time.
    """
    hour, minute = (int(part) for part in params["time"].split(":"))
    weekdays = params.get("weekdays") or range(7)
    today = now.astimezone(zone).date()
    for offset in range(8):
        day = today + timedelta(days=offset)
        if day.weekday() not in weekdays:
            continue
        # fold=0: an ambiguous time is the first; a missing one takes the offset before the gap.
        # Through UTC: comparisons of a local time in a gap or a fold would ignore the offset.
        candidate = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)
        if candidate > now:
            return candidate
    raise AssertionError("every week has each weekday")  # pragma: no cover


def _wait_until_run(journey, params: dict, index: int) -> StepResult:
    return StepResult(until=wait_until_due(params=params, zone=subscriber_zone(journey.subscriber), now=timezone.now()))


def _wait_until_run_many(journeys, params: dict, index: int) -> list[StepResult]:
    return [_wait_until_run(journey, params, index) for journey in journeys]


def _wait_until_describe(params: dict) -> str:
    if not params.get("weekdays"):
        return gettext("Wait until %(time)s") % {"time": params["time"]}
    days = ", ".join(str(WEEKDAY_NAMES[day]) for day in params["weekdays"])
    return gettext("Wait until %(time)s on %(days)s") % {"time": params["time"], "days": days}


def _field_value_clean(field: CustomField, value):
    try:
        return field.clean_value(value)
    except ValidationError as error:
        raise ValidationError(
            gettext("The value for the field “%(key)s” does not fit: %(error)s")
            % {"key": field.key, "error": " ".join(error.messages)}
        ) from None


def _set_field_clean(params: dict, *_args) -> dict:
    if set(params) - {"field", "value"} or "field" not in params:
        raise ValidationError(gettext("Setting a field takes a field key and a value."))
    field = CustomField.objects.filter(key=params["field"]).first() if isinstance(params["field"], str) else None
    if field is None:
        raise ValidationError(gettext("There is no custom field “%(key)s”.") % {"key": params["field"]})
    return {"field": field.key, "value": _field_value_clean(field, params.get("value"))}


def _set_field_problems(params: dict) -> list[str]:
    field = CustomField.objects.filter(key=params.get("field")).first()
    if field is None:
        return [gettext("The custom field “%(key)s” no longer exists.") % {"key": params.get("field")}]
    try:
        _field_value_clean(field, params.get("value"))
    except ValidationError as error:
        return list(error.messages)
    return []


def _set_field_run(journey, params: dict, index: int) -> StepResult:
    from subscribers.services.custom_fields import subscriber_field_set

    field = CustomField.objects.get(key=params["field"])
    subscriber_field_set(subscriber=journey.subscriber, field=field, value=params["value"])
    return StepResult()


def _set_field_describe(params: dict) -> str:
    field = CustomField.objects.filter(key=params.get("field")).first()
    name = field.label() if field else params.get("field")
    if params.get("value") is None:
        return gettext("Clear the field “%(field)s”") % {"field": name}
    value = field.display_format().text(params["value"], (get_language() or "de")[:2]) if field else params["value"]
    return gettext("Set “%(field)s” to “%(value)s”") % {"field": name, "value": value}


def _custom_field_choices() -> list[tuple]:
    return [(field.key, field.label()) for field in CustomField.objects.all()]


def _tag_add_run(journey, params: dict, index: int) -> StepResult:
    journey.subscriber.tags.add(params["tag"])
    return StepResult()


def _tag_remove_run(journey, params: dict, index: int) -> StepResult:
    journey.subscriber.tags.remove(params["tag"])
    return StepResult()


def _tag_add_run_many(journeys, params: dict, index: int) -> list[StepResult]:
    # Through the tag's side, so the tag trigger still hears of it (m2m_changed, reverse).
    Tag.objects.get(pk=params["tag"]).subscribers.add(*{journey.subscriber_id for journey in journeys})
    return [StepResult()] * len(journeys)


def _tag_remove_run_many(journeys, params: dict, index: int) -> list[StepResult]:
    Tag.objects.get(pk=params["tag"]).subscribers.remove(*{journey.subscriber_id for journey in journeys})
    return [StepResult()] * len(journeys)


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
    segment = ref(params, "segment")
    return {"segment": segment, "goto": goto_clean(params, index, count)}


def _branch_run(journey, params: dict, index: int) -> StepResult:
    from audience.selectors import segment_members

    segment = Segment.objects.get(pk=params["segment"])
    member = segment_members(segment).filter(pk=journey.subscriber_id).exists()
    return StepResult(next_index=params["goto"] if member else None, detail={"member": member})


def _name(model, pk) -> str:
    found = model.objects.filter(pk=pk).first()
    return str(found) if found is not None else f"#{pk}"


def _describe_with(message, model, name: str) -> Callable[[dict], str]:
    def describe(params: dict) -> str:
        return str(message) % {"name": _name(model, params.get(name))}

    return describe


def _branch_describe(params: dict) -> str:
    return gettext("Branch on the segment “%(name)s”") % {"name": _name(Segment, params.get("segment"))}


def _exit_run(journey, params: dict, index: int) -> StepResult:
    return StepResult(exit_reason="exit step")


def steps_errors(steps) -> tuple[list[dict], dict[int, list[str]]]:
    """The steps with each one's parameters checked, and what is wrong, by step index (-1: the whole list)."""
    if not isinstance(steps, list):
        return [], {-1: [gettext("The steps must be a list.")]}
    cleaned, errors = [], {}
    for index, step in enumerate(steps):
        kind = STEPS.get(step.get("kind")) if isinstance(step, dict) else None
        if kind is None:
            errors[index] = [gettext("unknown kind.")]
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
            errors[index] = list(error.messages)
    return cleaned, errors


def steps_clean(steps) -> list[dict]:
    """The steps list with each step's parameters checked; ValidationError naming every bad step."""
    cleaned, errors = steps_errors(steps)
    if errors:
        raise ValidationError(
            [
                message if index < 0 else gettext("Step %(number)s: %(error)s") % {"number": index, "error": message}
                for index, messages in errors.items()
                for message in messages
            ]
        )
    return cleaned


def steps_problems_by_step(steps: list[dict]) -> dict[int, list[str]]:
    """What is wrong with each step, malformed or broken now, by step index (-1: the whole list)."""
    cleaned, errors = steps_errors(steps)
    if errors:
        return errors
    problems = {}
    for index, step in enumerate(cleaned):
        params = {key: value for key, value in step.items() if key != "kind"}
        found = STEPS[step["kind"]].problems(params)
        if found:
            problems[index] = found
    return problems


def steps_problems(steps: list[dict]) -> list[str]:
    return [
        problem if index < 0 else gettext("Step %(number)s: %(problem)s") % {"number": index, "problem": problem}
        for index, problems in steps_problems_by_step(steps).items()
        for problem in problems
    ]


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
# Entered only by a REST API call (``services.journey_enrol``), with a payload for the mails.
API_ENROLLED = "api"


TAG_FIELD = FormField("tag", _("tag"), "ref:subscribers.Tag")
LIST_FIELD = FormField("list", _("mailing list"), "ref:subscribers.MailingList")
SEGMENT_FIELD = FormField("segment", _("segment"), "ref:audience.Segment")
WAIT_FIELDS = tuple(FormField(unit, label, "int", required=False) for unit, label in WAIT_UNITS.items())


def register_builtin_kinds() -> None:
    for trigger in (
        TriggerKind(
            SUBSCRIPTION_CONFIRMED,
            _("subscription confirmed"),
            ref_clean("list"),
            _missing(MailingList, "list", LIST_GONE),
            form_fields=(LIST_FIELD,),
        ),
        TriggerKind(
            TAG_ADDED, _("tag added"), ref_clean("tag"), _missing(Tag, "tag", TAG_GONE), form_fields=(TAG_FIELD,)
        ),
        TriggerKind(
            SEGMENT_JOINED,
            _("joined a segment"),
            ref_clean("segment"),
            _segment_problems,
            form_fields=(SEGMENT_FIELD,),
        ),
        TriggerKind(API_ENROLLED, _("enrolled through the REST API"), _no_params, _nothing),
    ):
        trigger_register(trigger)
    for step in (
        StepKind(
            "wait", _("wait"), _wait_clean, _nothing, _wait_run, WAIT_FIELDS, _wait_describe, run_many=_wait_run_many
        ),
        StepKind(
            "wait_until",
            _("wait until a time of day"),
            _wait_until_clean,
            _nothing,
            _wait_until_run,
            (
                FormField("time", _("time of day"), "time"),
                FormField("weekdays", _("on these weekdays (none: any day)"), "weekdays", required=False),
            ),
            _wait_until_describe,
            run_many=_wait_until_run_many,
        ),
        StepKind(
            "tag_add",
            _("add tag"),
            ref_clean("tag"),
            _missing(Tag, "tag", TAG_GONE),
            _tag_add_run,
            (TAG_FIELD,),
            _describe_with(_("Add the tag “%(name)s”"), Tag, "tag"),
            run_many=_tag_add_run_many,
        ),
        StepKind(
            "tag_remove",
            _("remove tag"),
            ref_clean("tag"),
            _missing(Tag, "tag", TAG_GONE),
            _tag_remove_run,
            (TAG_FIELD,),
            _describe_with(_("Remove the tag “%(name)s”"), Tag, "tag"),
            run_many=_tag_remove_run_many,
        ),
        StepKind(
            "set_field",
            _("set a field"),
            _set_field_clean,
            _set_field_problems,
            _set_field_run,
            (
                FormField("field", _("custom field"), "choice", choices=_custom_field_choices),
                FormField("value", _("value (empty: clear it)"), "text", required=False),
            ),
            _set_field_describe,
        ),
        StepKind(
            "list_subscribe",
            _("subscribe to list"),
            ref_clean("list"),
            _missing(MailingList, "list", LIST_GONE),
            _list_subscribe_run,
            (LIST_FIELD,),
            _describe_with(_("Subscribe to “%(name)s”"), MailingList, "list"),
        ),
        StepKind(
            "list_unsubscribe",
            _("unsubscribe from list"),
            ref_clean("list"),
            _missing(MailingList, "list", LIST_GONE),
            _list_unsubscribe_run,
            (LIST_FIELD,),
            _describe_with(_("Unsubscribe from “%(name)s”"), MailingList, "list"),
        ),
        StepKind(
            "branch",
            _("branch on a segment"),
            _branch_clean,
            _segment_problems,
            _branch_run,
            (SEGMENT_FIELD, FormField("goto", _("if a member, go to step"), "step")),
            _branch_describe,
        ),
        StepKind("exit", _("exit"), _no_params, _nothing, _exit_run, (), lambda params: gettext("Exit")),
    ):
        step_register(step)


def step_describe(step: dict) -> str:
    """What a stored step does, in words, for the outline."""
    kind = STEPS.get(step.get("kind")) if isinstance(step, dict) else None
    if kind is None:
        return gettext("unknown step kind")
    params = {key: value for key, value in step.items() if key != "kind"}
    if kind.describe is None:
        return str(kind.label)
    try:
        return kind.describe(params)
    except (KeyError, TypeError, ValueError):
        return str(kind.label)
