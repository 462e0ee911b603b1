"""The registry of condition kinds a segment's rules are built from.

Each kind names its parameters (for validation and for the editor) and turns cleaned parameters
into a ``Q`` on ``Subscriber`` made of columns and ``Exists`` subqueries, so a segment always
compiles to one SQL query. Kinds whose data live in a higher app (deliveries, events, answers)
are registered by that app in its ``AppConfig.ready()``: audience imports only subscribers.

A kind is a ``ConditionKind`` passed to ``register()``; ``audience.kinds`` has examples, among
them the custom-field kind (``register_custom_field_kind``, on ``subscribers.selectors.custom_field_q``).
A REF or REFS parameter reports a deleted object as a broken reference, with no code of its own.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

# Parameter types.
INT, BOOL, CHOICE, DATE, TEXT, REF, REFS = "int", "bool", "choice", "date", "text", "ref", "refs"
# How many objects of a reference parameter the editor offers (newest first).
EDITOR_OPTIONS_LIMIT = 500


class Group:
    """Headings of the editor's kind menu."""

    PROFILE = "profile"
    FIELDS = "fields"
    ENGAGEMENT = "engagement"
    BEHAVIOUR = "behaviour"
    DIALOGUE = "dialogue"
    DELIVERY = "delivery"
    OFFERS = "offers"

    LABELS = {
        PROFILE: _("Profile"),
        FIELDS: _("Custom fields"),
        ENGAGEMENT: _("Engagement"),
        BEHAVIOUR: _("Behaviour (human opens and clicks)"),
        DIALOGUE: _("Dialogue (answers)"),
        DELIVERY: _("Delivery"),
        OFFERS: _("Offers (redemptions reported by the shop)"),
    }


class BrokenReference(ValidationError):
    """A parameter names an object (list, campaign, survey, article, link, field) that no longer exists."""


@dataclass(frozen=True)
class Param:
    """One parameter of a condition kind.

    ``queryset`` (for REF and REFS) gives the objects that may be named; a value outside it is a
    broken reference. ``choices`` (for CHOICE) is a sequence of (value, label). A parameter that is
    not ``required`` may be missing or empty and is then ``default``.
    """

    name: str
    label: Any
    type: str
    required: bool = True
    default: Any = None
    choices: tuple = ()
    queryset: Callable[[], QuerySet] | None = None
    min_value: int | None = None
    max_value: int | None = None
    help_text: Any = ""
    # How the editor names an object of a reference parameter (default: ``str``).
    option_label: Callable[[Any], str] | None = None

    def clean(self, raw):
        if raw is None or raw == "" or raw == []:
            if self.required:
                raise ValidationError(gettext("“%(param)s” is required.") % {"param": self.label}, code="required")
            return self.default
        cleaner = getattr(self, f"_clean_{self.type}")
        return cleaner(raw)

    def _invalid(self, message: str, **values) -> ValidationError:
        return ValidationError(message % {"param": self.label, **values}, code="invalid")

    def _clean_int(self, raw) -> int:
        if isinstance(raw, bool):
            raise self._invalid(gettext("“%(param)s” must be a whole number."))
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise self._invalid(gettext("“%(param)s” must be a whole number.")) from None
        if isinstance(raw, float) and raw != value:
            raise self._invalid(gettext("“%(param)s” must be a whole number."))
        if self.min_value is not None and value < self.min_value:
            raise self._invalid(gettext("“%(param)s” must be at least %(limit)d."), limit=self.min_value)
        if self.max_value is not None and value > self.max_value:
            raise self._invalid(gettext("“%(param)s” must be at most %(limit)d."), limit=self.max_value)
        return value

    def _clean_bool(self, raw) -> bool:
        if isinstance(raw, bool):
            return raw
        if raw in ("true", "1", 1):
            return True
        if raw in ("false", "0", 0):
            return False
        raise self._invalid(gettext("“%(param)s” must be yes or no."))

    def _clean_choice(self, raw) -> str:
        if str(raw) not in {str(value) for value, _label in self.choices}:
            raise self._invalid(gettext("“%(value)s” is not a choice of “%(param)s”."), value=raw)
        return str(raw)

    def _clean_date(self, raw) -> str:
        try:
            return datetime.date.fromisoformat(str(raw)).isoformat()
        except ValueError:
            raise self._invalid(gettext("“%(param)s” must be a date (YYYY-MM-DD).")) from None

    def _clean_text(self, raw) -> str:
        if not isinstance(raw, str | int | float) or isinstance(raw, bool):
            raise self._invalid(gettext("“%(param)s” must be text."))
        value = str(raw).strip()
        if len(value) > 500:
            raise self._invalid(gettext("“%(param)s” is longer than %(limit)d characters."), limit=500)
        return value

    def _pk(self, raw) -> int:
        if isinstance(raw, bool):
            raise self._invalid(gettext("“%(param)s” must name an object by its number."))
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise self._invalid(gettext("“%(param)s” must name an object by its number.")) from None

    def _clean_ref(self, raw) -> int:
        pk = self._pk(raw)
        if not self.queryset().filter(pk=pk).exists():
            raise self._broken([pk])
        return pk

    def _clean_refs(self, raw) -> list[int]:
        if not isinstance(raw, list):
            raw = [raw]
        pks = sorted({self._pk(item) for item in raw})
        found = set(self.queryset().filter(pk__in=pks).values_list("pk", flat=True))
        missing = [pk for pk in pks if pk not in found]
        if missing:
            raise self._broken(missing)
        return pks

    def _broken(self, pks: list[int]) -> BrokenReference:
        numbers = ", ".join(f"#{pk}" for pk in pks)
        return BrokenReference(
            gettext("“%(param)s” names something that no longer exists: %(numbers)s.")
            % {"param": self.label, "numbers": numbers},
            code="broken",
        )

    def schema(self) -> dict:
        described = {
            "name": self.name,
            "label": str(self.label),
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "help_text": str(self.help_text),
        }
        if self.min_value is not None:
            described["min"] = self.min_value
        if self.max_value is not None:
            described["max"] = self.max_value
        if self.type == CHOICE:
            described["choices"] = [[value, str(label)] for value, label in self.choices]
        if self.type in (REF, REFS):
            objects = self.queryset()[:EDITOR_OPTIONS_LIMIT]
            label = self.option_label or str
            described["choices"] = [[item.pk, label(item)] for item in objects]
        return described


INCLUDE_MACHINE = Param(
    "include_machine",
    _("count machine events too"),
    BOOL,
    required=False,
    default=False,
    help_text=_("Off: only people's opens and clicks count, not those of mail scanners or image proxies."),
)


@dataclass(frozen=True)
class ConditionKind:
    """One kind of condition.

    ``q(params)`` receives the cleaned parameters and returns a ``Q`` on Subscriber that says
    whether the condition holds; it must be SQL (columns, ``Exists``, ``Subquery``), never a
    list of ids computed in Python. ``negated`` kinds hold where ``q`` does not ("did not open").
    ``needs_consent``: the condition reads what a person did or answered, so it is decided only
    for subscribers with tracking consent (see ``audience.rules``). ``machine_param`` adds the
    ``include_machine`` parameter (off by default). ``clean`` may check the cleaned parameters
    together and return them changed (e.g. a custom field's value cast to the field's type);
    it raises ValidationError, or BrokenReference for a deleted object.
    """

    key: str
    label: Any
    group: str
    q: Callable[[dict], Q]
    params: tuple[Param, ...] = ()
    needs_consent: bool = False
    negated: bool = False
    machine_param: bool = False
    clean: Callable[[dict], dict] | None = None
    help_text: Any = ""
    # Relative price of ``q`` per subscriber: 1 a column, 2 a subquery on a small table, 3 one on
    # answers or reports, 4 one on tracking events. Groups test cheap conditions first, so the
    # dear ones run for fewer rows.
    cost: int = 2
    all_params: tuple[Param, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        extra = (INCLUDE_MACHINE,) if self.machine_param else ()
        object.__setattr__(self, "all_params", (*self.params, *extra))

    def clean_params(self, raw: dict) -> dict:
        """Typed parameters, or ValidationError with every problem found (BrokenReference first)."""
        if not isinstance(raw, dict):
            raise ValidationError(gettext("The condition's parameters are not an object."), code="invalid")
        known = {param.name for param in self.all_params} | {"kind"}
        unknown = sorted(set(raw) - known)
        errors: list[ValidationError] = []
        if unknown:
            errors.append(
                ValidationError(
                    gettext("Unknown parameters: %(names)s.") % {"names": ", ".join(unknown)}, code="invalid"
                )
            )
        cleaned = {}
        for param in self.all_params:
            try:
                cleaned[param.name] = param.clean(raw.get(param.name))
            except ValidationError as error:
                errors.append(error)
        if not errors and self.clean is not None:
            try:
                cleaned = self.clean(cleaned)
            except ValidationError as error:
                errors.append(error)
        broken = [error for error in errors if isinstance(error, BrokenReference)]
        if broken:
            raise BrokenReference([message for error in broken for message in error.messages])
        if errors:
            raise ValidationError([message for error in errors for message in error.messages])
        return cleaned

    def broken_reason(self, raw: dict) -> str | None:
        """Why the condition names something that no longer exists, or None."""
        try:
            self.clean_params(raw)
        except BrokenReference as error:
            return " ".join(error.messages)
        except ValidationError:
            return None
        return None

    def schema(self) -> dict:
        return {
            "key": self.key,
            "label": str(self.label),
            "group": self.group,
            "group_label": str(Group.LABELS.get(self.group, self.group)),
            "needs_consent": self.needs_consent,
            "help_text": str(self.help_text),
            "params": [param.schema() for param in self.all_params],
        }


KINDS: dict[str, ConditionKind] = {}
"""Every registered kind by key; filled in ``AppConfig.ready()`` of audience and the apps above it."""


def register(kind: ConditionKind) -> None:
    """Add a kind; registering the same key again replaces it (``ready()`` may run more than once)."""
    KINDS[kind.key] = kind


def kind_for(key) -> ConditionKind | None:
    return KINDS.get(key) if isinstance(key, str) else None


def kinds_schema() -> list[dict]:
    """Every kind with its parameters and, for references, the objects to choose from: the editor's menu."""
    order = list(Group.LABELS)
    ranked = sorted(KINDS.values(), key=lambda kind: order.index(kind.group) if kind.group in order else 99)
    return [kind.schema() for kind in ranked]


def tracked_q() -> Q:
    """Subscribers whose individual behaviour and answers may be looked at: tracking consent given,
    and individual tracking on for the installation."""
    if not settings.KANAL_INDIVIDUAL_TRACKING:
        return Q(pk__in=[])
    return Q(tracking_consent=True)
