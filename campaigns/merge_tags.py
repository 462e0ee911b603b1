"""Personalisation tags such as ``{{ subscriber.first_name|default:"Leserin" }}``, in a sandbox.

This is deliberately not the Django template engine. A tag can read one public field of the
subscriber, or one of the custom fields staff defined (``{{ subscriber.fields.city }}``, only
keys that exist), and pass it through a few whitelisted filters; there are no block tags, no other
variables, no attribute traversal and no loops, so a template cannot reach secrets or hang.
Parsing is regex-based and linear in the length of the text.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from campaigns.extensions import RECIPIENT_VALUE_NAMESPACES, RECIPIENT_VALUES
from subscribers.field_values import FieldFormat

ALLOWED_FIELDS = ("first_name", "last_name", "email", "language")
MAX_FILTERS = 5
MAX_TAG_LENGTH = 300

# Everything between ``{{`` and ``}}`` that contains no brace; bounded, so a scan from one
# ``{{`` stops at the next brace or after MAX_TAG_LENGTH characters.
TAG_RE = re.compile(r"\{\{([^{}]{0,300})\}\}")  # 300 == MAX_TAG_LENGTH
VARIABLE_RE = re.compile(r"\s*subscriber\.([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\s*")
CUSTOM_FIELDS = "fields"
# ``{{ data.order_number }}``: a value the sender passes with one message (transactional mail).
# Only texts parsed with ``request_data=True`` may use it; campaigns have no such values.
REQUEST_DATA = "data"
REQUEST_DATA_RE = re.compile(r"\s*data\.([A-Za-z_][A-Za-z0-9_]{0,63})\s*")
FILTER_RE = re.compile(r"\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*(?:\"([^\"]*)\"|'([^']*)')\s*)?")
BLOCK_RE = re.compile(r"\{%|%\}|\{#|#\}")
STRAY_RE = re.compile(r"\{\{|\}\}")


def _default(value: str, arg: str | None) -> str:
    return value or (arg or "")


# name -> (function, takes an argument)
FILTERS: dict[str, tuple[Callable[[str, str | None], str], bool]] = {
    "default": (_default, True),
    "upper": (lambda value, arg: value.upper(), False),
    "lower": (lambda value, arg: value.lower(), False),
    "title": (lambda value, arg: value.title(), False),
    "capfirst": (lambda value, arg: capfirst(value), False),
}


class MergeTagError(ValueError):
    """A text holds something other than plain text and valid merge tags."""


@dataclass(frozen=True, slots=True)
class MergeTag:
    """One parsed tag: the subscriber field it reads and the filters applied, in order.

    A custom field tag has ``field == "fields"``, the field's ``key`` and how its values read
    (``format``), taken from the field's definition when the text was parsed.
    """

    field: str
    filters: tuple[tuple[str, str | None], ...] = ()
    key: str = ""
    format: FieldFormat | None = None

    def value(self, recipient) -> str:
        if self.field == REQUEST_DATA:
            data = recipient.data
            value = str(data.get(self.key, "")) if data else ""
        elif self.key and self.field != CUSTOM_FIELDS:  # a namespace of RECIPIENT_VALUE_NAMESPACES
            values = recipient.values
            value = str((values.get(f"{self.field}.{self.key}") if values else None) or "")
        elif self.key:
            fields = recipient.fields
            raw = fields.get(self.key) if fields else None
            value = "" if raw is None else self.format.text(raw, recipient.language)
        elif self.field in ALLOWED_FIELDS:
            value = getattr(recipient, self.field) or ""
        else:  # a name another app registered (campaigns.extensions.RECIPIENT_VALUES)
            values = recipient.values
            value = (values.get(self.field) if values else None) or ""
        for name, arg in self.filters:
            value = FILTERS[name][0](value, arg)
        return value


class _CustomFields:
    """The custom fields' formats, read from the database once per ``parse`` and only if a tag needs them."""

    def __init__(self):
        self._formats: dict[str, FieldFormat] | None = None

    def get(self, key: str) -> FieldFormat:
        if self._formats is None:
            from subscribers.selectors import custom_field_formats

            self._formats = custom_field_formats()
        if key not in self._formats:
            raise MergeTagError(
                _("“subscriber.fields.%(key)s” is not a custom field. Custom fields: %(known)s.")
                % {"key": key, "known": ", ".join(self._formats) or _("none defined")}
            )
        return self._formats[key]


def parse_tag(source: str, custom_fields: _CustomFields | None = None, *, request_data: bool = False) -> MergeTag:
    """Parse the inside of one ``{{ … }}``; raise MergeTagError for anything not allowed."""
    match = VARIABLE_RE.match(source)
    data_match = REQUEST_DATA_RE.match(source) if request_data and match is None else None
    if data_match is not None:
        return MergeTag(field=REQUEST_DATA, key=data_match.group(1), filters=_filters(source, data_match.end()))
    if match is None:
        raise MergeTagError(
            _("“{{%(tag)s}}” is not a merge tag. Use {{ subscriber.first_name }} and the like.") % {"tag": source}
        )
    field, key = match.group(1), match.group(2) or ""
    namespaced = field in (CUSTOM_FIELDS, *RECIPIENT_VALUE_NAMESPACES)
    if namespaced != bool(key) or (not key and field not in (*ALLOWED_FIELDS, *RECIPIENT_VALUES)):
        shown = f"{field}.{key}" if key else field
        namespaces = [f"{namespace}.<key>" for namespace in RECIPIENT_VALUE_NAMESPACES]
        allowed = [*ALLOWED_FIELDS, *RECIPIENT_VALUES, "fields.<key>", *namespaces]
        raise MergeTagError(
            _("“subscriber.%(field)s” cannot be used. Allowed fields: %(allowed)s.")
            % {"field": shown, "allowed": ", ".join(allowed)}
        )
    field_format = (custom_fields or _CustomFields()).get(key) if field == CUSTOM_FIELDS else None
    return MergeTag(field=field, filters=_filters(source, match.end()), key=key, format=field_format)


def _filters(source: str, position: int) -> tuple[tuple[str, str | None], ...]:
    filters = []
    while position < len(source):
        match = FILTER_RE.match(source, position)
        if match is None:
            raise MergeTagError(_("“{{%(tag)s}}” is not a valid merge tag.") % {"tag": source})
        name = match.group(1)
        arg = match.group(2) if match.group(2) is not None else match.group(3)
        if name not in FILTERS:
            raise MergeTagError(
                _("The filter “%(name)s” is not allowed. Allowed filters: %(allowed)s.")
                % {"name": name, "allowed": ", ".join(FILTERS)}
            )
        takes_arg = FILTERS[name][1]
        if takes_arg and arg is None:
            raise MergeTagError(_('The filter “%(name)s” needs a value, e.g. %(name)s:"…".') % {"name": name})
        if not takes_arg and arg is not None:
            raise MergeTagError(_("The filter “%(name)s” takes no value.") % {"name": name})
        filters.append((name, arg))
        position = match.end()
    if len(filters) > MAX_FILTERS:
        raise MergeTagError(_("A merge tag may use at most %(count)d filters.") % {"count": MAX_FILTERS})
    return tuple(filters)


def parse(text: str, *, request_data: bool = False) -> list[str | MergeTag]:
    """Split a text into literal strings and merge tags, or raise MergeTagError.

    Template block tags, comments and braces that do not form a valid tag are rejected, so a
    mistake is reported at save time instead of reaching subscribers half-rendered.
    ``request_data`` also allows ``{{ data.<name> }}`` (values sent with one transactional mail).
    """
    block = BLOCK_RE.search(text)
    if block is not None:
        raise MergeTagError(
            _("Template commands such as {%% … %%} are not allowed here (found “%(found)s”).")
            % {"found": block.group(0)}
        )
    parts: list[str | MergeTag] = []
    position = 0
    custom_fields = _CustomFields()
    for match in TAG_RE.finditer(text):
        literal = text[position : match.start()]
        _check_literal(literal)
        if literal:
            parts.append(literal)
        parts.append(parse_tag(match.group(1), custom_fields, request_data=request_data))
        position = match.end()
    literal = text[position:]
    _check_literal(literal)
    if literal:
        parts.append(literal)
    return parts


def _check_literal(literal: str) -> None:
    if STRAY_RE.search(literal):
        raise MergeTagError(
            _(
                "Unbalanced braces: every “{{” needs a matching “}}” around one merge tag "
                "of at most %(length)d characters."
            )
            % {"length": MAX_TAG_LENGTH}
        )


def validate_merge_tags(value: str) -> None:
    """Model field validator: the text parses as plain text plus allowed merge tags."""
    try:
        parse(value or "")
    except MergeTagError as error:
        raise ValidationError(str(error), code="merge_tag") from error


def validate_request_data_merge_tags(value: str) -> None:
    """Model field validator for transactional templates: merge tags and ``{{ data.<name> }}``."""
    try:
        parse(value or "", request_data=True)
    except MergeTagError as error:
        raise ValidationError(str(error), code="merge_tag") from error


def available_tags() -> list[str]:
    """Every merge tag a text may use now, as staff would type it (the editor's merge tag picker)."""
    from subscribers.selectors import custom_field_formats

    names = [*ALLOWED_FIELDS, *RECIPIENT_VALUES, *(f"{CUSTOM_FIELDS}.{key}" for key in custom_field_formats())]
    return [f"{{{{ subscriber.{name} }}}}" for name in names]


def render_plain(parts: list[str | MergeTag], recipient) -> str:
    """Substitute the tags of a parsed text for one recipient, unescaped (subject, text part)."""
    return "".join(part if isinstance(part, str) else part.value(recipient) for part in parts)
