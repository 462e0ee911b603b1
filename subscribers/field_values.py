"""The typing rule of custom field values: what a raw value becomes in ``Subscriber.fields``, and
how a stored value reads for people.

Stored JSON per kind: text a string, number a JSON number, date an ISO ``"YYYY-MM-DD"`` string
(so text order is date order), yes/no a JSON bool, single choice the option's value, multiple
choice a sorted list of option values. An empty value is never stored: the key is left out.
``CustomField.clean_value`` is the entry point; forms, the import and the admin call it.
"""

import math
import re
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

TEXT, NUMBER, DATE, BOOLEAN, CHOICE, MULTIPLE_CHOICE = "text", "number", "date", "boolean", "choice", "multiple_choice"
CHOICE_KINDS = (CHOICE, MULTIPLE_CHOICE)
TEXT_MAX_LENGTH = 500
# Keys are merge-tag names ({{ subscriber.fields.<key> }}) and JSON keys in SQL paths.
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,49}\Z")
CHOICE_VALUE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}\Z")
TRUE_WORDS = {"true", "yes", "ja", "j", "y", "1", "x", "wahr", "on"}
FALSE_WORDS = {"false", "no", "nein", "n", "0", "falsch", "off"}
# Separators between several options in one cell of an imported file.
MULTIPLE_SPLIT_RE = re.compile(r"\s*[|,;]\s*")
GERMAN_DATE_RE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})\Z")


def is_empty(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list | tuple) and not raw)


def parse_value(*, kind: str, raw, options: list[dict]):
    """``raw`` (form input, a CSV cell, JSON) as the stored JSON value, None when empty.

    Raises ValidationError with a message for the person who typed it.
    """
    if is_empty(raw):
        return None
    if kind == TEXT:
        return _text(raw)
    if kind == NUMBER:
        return _number(raw)
    if kind == DATE:
        return _date(raw)
    if kind == BOOLEAN:
        return _boolean(raw)
    if kind == CHOICE:
        if isinstance(raw, list | tuple):
            if len(raw) != 1:
                raise ValidationError(_("Choose one option."), code="invalid")
            raw = raw[0]
        return _option(raw, options)
    if kind == MULTIPLE_CHOICE:
        items = raw if isinstance(raw, list | tuple) else MULTIPLE_SPLIT_RE.split(str(raw).strip())
        values = {_option(item, options) for item in items if not is_empty(item)}
        return sorted(values) or None
    raise ValueError(f"unknown custom field kind {kind!r}")


def _text(raw) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise ValidationError(_("Enter text."), code="invalid")
    text = " ".join(str(raw).split())
    if len(text) > TEXT_MAX_LENGTH:
        raise ValidationError(
            _("Enter at most %(limit)d characters."), code="max_length", params={"limit": TEXT_MAX_LENGTH}
        )
    return text


def _number(raw) -> int | float:
    if isinstance(raw, bool):
        raise ValidationError(_("Enter a number."), code="invalid")
    if isinstance(raw, int | float):
        number = raw
    else:
        text = str(raw).strip().replace(" ", "").replace("\u00a0", "")
        if "," in text and "." not in text:
            text = text.replace(",", ".")  # German decimal comma: 3,5
        try:
            number = float(text)
        except ValueError:
            raise ValidationError(_("Enter a number, e.g. 42 or 3.5."), code="invalid") from None
    if not math.isfinite(number):
        raise ValidationError(_("Enter a number, e.g. 42 or 3.5."), code="invalid")
    if float(number).is_integer() and abs(number) < 2**53:
        return int(number)
    return float(number)


def _date(raw) -> str:
    if isinstance(raw, datetime):
        raw = raw.date()
    if isinstance(raw, date):
        return raw.isoformat()
    text = str(raw).strip()
    german = GERMAN_DATE_RE.match(text)
    try:
        if german:
            day, month, year = (int(part) for part in german.groups())
            return date(year, month, day).isoformat()
        return date.fromisoformat(text[:10] if len(text) > 10 and text[10] in "T " else text).isoformat()
    except ValueError:
        raise ValidationError(_("Enter a date as YYYY-MM-DD or DD.MM.YYYY, e.g. 2026-03-31."), code="invalid") from None


def _boolean(raw) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValidationError(_("Enter yes or no."), code="invalid")


def _option(raw, options: list[dict]) -> str:
    """An option's value, given its value or its label in either language (case ignored)."""
    text = str(raw).strip().lower()
    for option in options:
        if text in (option["value"], option["label_de"].strip().lower(), option["label_en"].strip().lower()):
            return option["value"]
    raise ValidationError(
        _("“%(value)s” is not one of the options: %(options)s."),
        code="invalid_choice",
        params={"value": str(raw).strip(), "options": ", ".join(option["value"] for option in options)},
    )


def check_options(kind: str, options) -> None:
    """The options of a field: a list of {value, label_de, label_en} for the choice kinds, empty for the others."""
    if kind not in CHOICE_KINDS:
        if options:
            raise ValidationError(_("Only choice fields have options."), code="options")
        return
    if not isinstance(options, list) or not options:
        raise ValidationError(_("A choice field needs at least one option."), code="options")
    seen = set()
    for option in options:
        if not isinstance(option, dict) or set(option) != {"value", "label_de", "label_en"}:
            raise ValidationError(
                _('Write each option as {"value": "…", "label_de": "…", "label_en": "…"}.'), code="options"
            )
        value = option["value"]
        if not isinstance(value, str) or not CHOICE_VALUE_RE.match(value):
            raise ValidationError(
                _(
                    "“%(value)s” cannot be an option value: use lower-case letters, digits, - and _, "
                    "starting with a letter or digit."
                ),
                code="options",
                params={"value": value},
            )
        if value in seen:
            raise ValidationError(
                _("The option value “%(value)s” appears twice."), code="options", params={"value": value}
            )
        seen.add(value)
        if not all(isinstance(option[label], str) and option[label].strip() for label in ("label_de", "label_en")):
            raise ValidationError(
                _("The option “%(value)s” needs a German and an English label."),
                code="options",
                params={"value": value},
            )


def localised(german: str, english: str, language: str | None = None) -> str:
    """The German or English wording for ``language`` (default: the active one), else the other."""
    language = (language or translation.get_language() or "de")[:2]
    first, second = (german, english) if language == "de" else (english, german)
    return first or second


@dataclass(frozen=True, slots=True)
class FieldFormat:
    """How a stored value reads for a person, per language; hashable, built once per campaign or page."""

    kind: str
    # (value, German label, English label) per option.
    options: tuple[tuple[str, str, str], ...] = ()
    # ((language, yes, no), ...) in each configured language.
    yes_no: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def build(cls, *, kind: str, options: list[dict]) -> "FieldFormat":
        from django.conf import settings

        yes_no = []
        for language, _name in settings.LANGUAGES:
            with translation.override(language):
                yes_no.append((language, gettext("Yes"), gettext("No")))
        return cls(
            kind=kind,
            options=tuple((option["value"], option["label_de"], option["label_en"]) for option in options or ()),
            yes_no=tuple(yes_no),
        )

    def text(self, value, language: str) -> str:
        if value is None or value == "" or value == []:
            return ""
        kind = self.kind
        if kind == TEXT:
            return str(value)
        if kind == NUMBER:
            text = str(value)
            return text.replace(".", ",") if language == "de" else text
        if kind == DATE:
            if language == "de" and len(value) == 10:
                return f"{value[8:10]}.{value[5:7]}.{value[0:4]}"
            return str(value)
        if kind == BOOLEAN:
            for code, yes, no in self.yes_no:
                if code == language:
                    return yes if value else no
            return self.yes_no[0][1 if value else 2] if self.yes_no else str(value).lower()
        if kind == CHOICE:
            return self._label(value, language)
        return ", ".join([self._label(item, language) for item in value])

    def _label(self, value, language: str) -> str:
        for option_value, german, english in self.options:
            if option_value == value:
                return (german or english) if language == "de" else (english or german)
        return str(value)
