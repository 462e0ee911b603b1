import json
import zoneinfo
from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import NotSupportedError
from django.db.models import BooleanField, Expression, F, FloatField, Q, QuerySet, TextField
from django.db.models.fields.json import HasKey
from django.db.models.functions import Cast, Substr
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IExact,
    In,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from subscribers import field_values, tokens
from subscribers.models import (
    ConfirmationMail,
    ConsentText,
    CustomField,
    ImportProblem,
    MailingList,
    Subscriber,
    SubscriberImport,
    SuppressedAddress,
    email_hash,
    normalise_email,
)


def subscriber_zone(subscriber: Subscriber) -> zoneinfo.ZoneInfo:
    """The subscriber's time zone, or the site's TIME_ZONE when none is set (or the stored one is unknown)."""
    try:
        return zoneinfo.ZoneInfo(subscriber.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def public_list_get(*, slug: str) -> MailingList:
    return MailingList.objects.get(slug=slug, is_public=True)


def consent_text_current(*, language: str) -> ConsentText | None:
    """The newest consent wording in ``language``, else the newest in any language."""
    texts = ConsentText.objects.order_by("-version")
    return texts.filter(language=language).first() or texts.first()


def confirmation_mails_sent_recently(*, subscriber_id: int, within: timedelta = timedelta(days=1)) -> int:
    since = timezone.now() - within
    return ConfirmationMail.objects.filter(subscription__subscriber_id=subscriber_id, queued_at__gte=since).count()


def address_is_suppressed(*, email: str) -> bool:
    return bool(addresses_suppressed(emails=[email]))


def addresses_suppressed(*, emails: Iterable[str]) -> set[str]:
    """Those of ``emails`` on the suppression list, one query per 500 addresses."""
    by_hash = {email_hash(email): email for email in emails}
    hashes = list(by_hash)
    found = set()
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        found |= set(SuppressedAddress.objects.filter(email_hash__any_of=chunk).values_list("email_hash", flat=True))
    return {by_hash[hashed] for hashed in found}


def subscriber_by_public_id(*, public_id: str) -> Subscriber | None:
    try:
        return Subscriber.objects.filter(public_id=public_id).first()
    except ValidationError:
        return None


def subscriber_by_token(*, token: str, purpose: str) -> Subscriber | None:
    """The subscriber a link token names (``tokens.SUBSCRIBER_SALTS``); None when they are gone.

    Raises ``tokens.InvalidToken`` for a forged token, one made for another purpose, or one revoked
    by a raised token version.
    """
    public_id, token_version = tokens.read_subscriber_token(token, purpose=purpose)
    subscriber = subscriber_by_public_id(public_id=public_id)
    if subscriber is not None and subscriber.token_version != token_version:
        raise tokens.InvalidToken("revoked")
    return subscriber


def subscriber_by_data_link(*, public_id, action: str, token: str) -> Subscriber | None:
    """The subscriber a live one-time data link names, or None when it is forged, spent or too old."""
    subscriber = subscriber_by_public_id(public_id=str(public_id))
    if subscriber is None or not tokens.check_data_link_token(subscriber=subscriber, action=action, token=token):
        return None
    return subscriber


def address_may_receive_mail(*, email: str, subscriber: Subscriber | None = None) -> bool:
    """False for an address that hard-bounced, complained or was blocked by staff.

    An address suppressed only because it was erased may sign up again with double opt-in.
    ``subscriber``: the address's row as just read or written in this transaction, whose status is
    then taken as it is instead of being read again.
    """
    blocking_reasons = (
        SuppressedAddress.Reason.BOUNCED,
        SuppressedAddress.Reason.COMPLAINED,
        SuppressedAddress.Reason.MANUAL,
    )
    if SuppressedAddress.objects.filter(email_hash=email_hash(email), reason__in=blocking_reasons).exists():
        return False
    blocking_statuses = (Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED)
    email = normalise_email(email)
    if subscriber is not None and subscriber.email == email:
        return subscriber.status not in blocking_statuses
    return not Subscriber.objects.filter(email=email, status__in=blocking_statuses).exists()


def consent_text_version(*, language: str, version) -> ConsentText | None:
    """The consent wording with this version number, e.g. the one an embedded form was copied with."""
    try:
        version = int(version)
    except (TypeError, ValueError):
        return None
    if not 0 < version < 2**31:
        return None
    return ConsentText.objects.filter(language=language, version=version).first()


def import_report_rows(*, subscriber_import: SubscriberImport) -> Iterator[list]:
    """The per-row report of an import: a header, then each stored problem row, read in chunks."""
    yield ["row", "email", "problem"]
    custom_fields = {field.key: field for field in CustomField.objects.all()}
    problems = subscriber_import.problems.order_by("row_number").values_list("row_number", "email", "reason")
    for row_number, email, reason in problems.iterator(chunk_size=2000):
        yield [row_number, email, ImportProblem.describe(reason, custom_fields)]


def import_problem_counts(*, subscriber_import: SubscriberImport) -> list[tuple[str, int]]:
    """(problem in words, rows) for every problem of an import, the most frequent first."""
    counts = sorted(subscriber_import.problem_counts.items(), key=lambda item: (-item[1], item[0]))
    custom_fields = {field.key: field for field in CustomField.objects.all()}
    return [(ImportProblem.describe(reason, custom_fields), count) for reason, count in counts]


def custom_fields_for_signup(*, mailing_list: MailingList) -> list[CustomField]:
    """The fields a list's sign-up form shows, in their order."""
    return list(
        CustomField.objects.filter(Q(all_lists=True) | Q(mailing_lists=mailing_list))
        .distinct()
        .order_by("position", "pk")
    )


def custom_fields_for_preferences() -> list[CustomField]:
    return list(CustomField.objects.filter(in_preferences=True).order_by("position", "pk"))


def custom_field_formats() -> dict[str, field_values.FieldFormat]:
    """{key: FieldFormat} of every custom field: what merge tags and exports read."""
    return {field.key: field.display_format() for field in CustomField.objects.order_by("position", "pk")}


# Which operators fit which kind; custom_field_q accepts exactly these.
CUSTOM_FIELD_OPERATORS: dict[str, list[str]] = {
    field_values.TEXT: ["equals", "not_equals", "contains", "starts_with", "is_empty", "is_not_empty"],
    field_values.NUMBER: ["equals", "lt", "lte", "gt", "gte", "between", "is_empty"],
    field_values.DATE: [
        "on",
        "before",
        "after",
        "within_last_days",
        "within_next_days",
        "anniversary_within_next_days",
        "is_empty",
    ],
    field_values.BOOLEAN: ["is_true", "is_false", "is_empty"],
    field_values.CHOICE: ["is", "is_not", "is_any_of", "is_empty"],
    field_values.MULTIPLE_CHOICE: ["has", "has_not", "has_any_of", "is_empty"],
}
# What staff read for each operator (the segment editor, error messages).
CUSTOM_FIELD_OPERATOR_LABELS = {
    "equals": gettext_lazy("equals"),
    "not_equals": gettext_lazy("does not equal"),
    "contains": gettext_lazy("contains"),
    "starts_with": gettext_lazy("starts with"),
    "lt": gettext_lazy("less than"),
    "lte": gettext_lazy("at most"),
    "gt": gettext_lazy("more than"),
    "gte": gettext_lazy("at least"),
    "between": gettext_lazy("between (two values separated by “..”)"),
    "on": gettext_lazy("on the date"),
    "before": gettext_lazy("before the date"),
    "after": gettext_lazy("after the date"),
    "within_last_days": gettext_lazy("within the last days"),
    "within_next_days": gettext_lazy("within the next days"),
    "anniversary_within_next_days": gettext_lazy("anniversary within the next days (birthdays)"),
    "is_true": gettext_lazy("is yes"),
    "is_false": gettext_lazy("is no"),
    "is": gettext_lazy("is"),
    "is_not": gettext_lazy("is not"),
    "is_any_of": gettext_lazy("is any of (separated by commas)"),
    "has": gettext_lazy("has the option"),
    "has_not": gettext_lazy("does not have the option"),
    "has_any_of": gettext_lazy("has any of the options (separated by commas)"),
    "is_empty": gettext_lazy("is empty"),
    "is_not_empty": gettext_lazy("is not empty"),
}
# Operators whose value is a list (between: [low, high]; the others: option values).
LIST_OPERATORS = {"between", "is_any_of", "has_any_of"}
VALUELESS_OPERATORS = {"is_empty", "is_not_empty", "is_true", "is_false"}


class _FieldExpression(Expression):
    """An expression on one key of a JSON column (``fields`` unless a path from another model)."""

    def __init__(self, key: str, column="fields"):
        super().__init__()
        self.key = key
        self.column = F(column) if isinstance(column, str) else column

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, expressions):
        (self.column,) = expressions

    def as_sql(self, compiler, connection):
        raise NotSupportedError("Custom fields are filtered on SQLite and PostgreSQL only.")


class _FieldText(_FieldExpression):
    """The stored value of one key as SQL text (strings, ISO dates, option values) or number.

    Lighter than Django's KeyTextTransform on SQLite, which reads the JSON three times per row to
    tell true/false/null apart; custom fields never store null, and booleans are compared with
    ``_FieldContains``.
    """

    output_field = TextField()

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.column)
        return f"JSON_EXTRACT({column}, %s)", (*params, _json_path(self.key))

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.column)
        return f"({column} ->> %s)", (*params, self.key)


class _FieldContains(_FieldExpression):
    """True when the stored value of ``key`` is, or is a list holding, the JSON value ``value``.

    PostgreSQL: top-level containment (``fields @> '{"key": [value]}'``), which a GIN index on
    the column can serve; it matches a list holding the value and, with a scalar, equality.
    SQLite has no containment operator: ``json_each`` over the key's list (or its scalar).
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, key: str, value, *, in_list: bool, column="fields"):
        super().__init__(key, column)
        self.value = value
        self.in_list = in_list

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.column)
        if not self.in_list:
            # JSON_EXTRACT gives true/false as 1/0; JSON_TYPE names them.
            return f"(JSON_TYPE({column}, %s) = %s)", (*params, _json_path(self.key), json.dumps(self.value))
        return (
            f"EXISTS (SELECT 1 FROM json_each({column}, %s) AS kanal_option WHERE kanal_option.value = %s)",  # noqa: S608
            (*params, _json_path(self.key), self.value),
        )

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.column)
        value = [self.value] if self.in_list else self.value
        return f"({column} @> %s::jsonb)", (*params, json.dumps({self.key: value}))


def _json_path(key: str) -> str:
    return f'$."{key}"'


def custom_field_q(*, field: CustomField, operator: str, value=None, today=None, path: str = "fields") -> Q:
    """A filter on ``Subscriber`` for one custom field condition, portable between SQLite and PostgreSQL.

    ``operator`` is one of ``CUSTOM_FIELD_OPERATORS[field.kind]``. ``value`` is cleaned with
    ``field.clean_value`` (raw form input is fine); ``between`` takes [low, high] (either may be
    empty), ``is_any_of``/``has_any_of`` a list of option values, ``within_*_days`` a whole number
    of days; ``anniversary_within_next_days`` compares day and month only (birthdays).
    ``today`` (a date) anchors the ``within_*`` operators; default: today in the site's time zone.
    ``path`` names the JSON column from the queried model (``subscriber__fields`` from a
    Subscription). Raises ValidationError for an operator that does not fit the kind, or a bad value.
    Subscribers without a value never match a comparison; ``not_equals``, ``is_not`` and
    ``has_not`` include them. The Q is never SQL NULL, so it may be negated.
    """
    kind = field.kind
    if operator not in CUSTOM_FIELD_OPERATORS.get(kind, []):
        raise ValidationError(
            _("“%(operator)s” does not fit a field of kind “%(kind)s”.")
            % {"operator": CUSTOM_FIELD_OPERATOR_LABELS.get(operator, operator), "kind": CustomField.Kind(kind).label},
            code="operator",
        )
    has_value = Q(HasKey(F(path), field.key))
    if operator == "is_empty":
        return ~has_value
    if operator == "is_not_empty":
        return has_value
    negated = {"not_equals": "equals", "is_not": "is", "has_not": "has"}
    if operator in negated:
        return ~(_comparison(field, negated[operator], value, today, path) & has_value)
    # A comparison on a missing key is SQL NULL, and NOT NULL is NULL again: anded with the key's
    # presence the condition is true or false, so ~q and NOT groups of a segment mean what they say.
    # The comparison goes first: where it is false, SQLite skips the second look into the JSON.
    return _comparison(field, operator, value, today, path) & has_value


def _comparison(field: CustomField, operator: str, value, today, path: str) -> Q:
    kind, key = field.kind, field.key
    text = _FieldText(key, path)
    if kind == field_values.TEXT:
        lookup = {"equals": IExact, "contains": IContains, "starts_with": IStartsWith}[operator]
        return Q(lookup(text, _required(field, value)))
    if kind == field_values.NUMBER:
        number = Cast(text, FloatField())
        if operator == "between":
            low, high = _pair(field, value)
            condition = Q()
            if low is not None:
                condition &= Q(GreaterThanOrEqual(number, low))
            if high is not None:
                condition &= Q(LessThanOrEqual(number, high))
            return condition
        lookup = {"equals": Exact, "lt": LessThan, "lte": LessThanOrEqual, "gt": GreaterThan, "gte": GreaterThanOrEqual}
        return Q(lookup[operator](number, _required(field, value)))
    if kind == field_values.DATE:
        today = today or timezone.localdate()
        if operator in ("within_last_days", "within_next_days"):
            days = _days(value)
            if operator == "within_last_days":
                low, high = today - timedelta(days=days), today
            else:
                low, high = today, today + timedelta(days=days)
            # ISO dates as text: text order is date order.
            return Q(GreaterThanOrEqual(text, low.isoformat())) & Q(LessThanOrEqual(text, high.isoformat()))
        if operator == "anniversary_within_next_days":
            return _anniversary_within(text, days=_days(value, limit=365), today=today)
        lookup = {"on": Exact, "before": LessThan, "after": GreaterThan}[operator]
        return Q(lookup(text, _required(field, value)))
    if kind == field_values.BOOLEAN:
        return Q(_FieldContains(key, operator == "is_true", in_list=False, column=path))
    if kind == field_values.CHOICE:
        if operator == "is_any_of":
            return Q(In(text, _options(field, value)))
        return Q(Exact(text, _required(field, value)))  # is
    # MULTIPLE_CHOICE
    if operator == "has_any_of":
        condition = Q()
        for option in _options(field, value):
            condition |= Q(_FieldContains(key, option, in_list=True, column=path))
        return condition
    return Q(_FieldContains(key, _required(field, value, single=True), in_list=True, column=path))  # has


def _required(field: CustomField, value, *, single: bool = False):
    if field.kind == field_values.MULTIPLE_CHOICE and single:
        cleaned = field.clean_value([value] if isinstance(value, str) else value)
        if cleaned is not None and len(cleaned) != 1:
            raise ValidationError(_("Choose one option."), code="invalid")
        cleaned = cleaned[0] if cleaned else None
    else:
        cleaned = field.clean_value(value)
    if cleaned is None:
        raise ValidationError(_("Enter a value to compare with."), code="required")
    return cleaned


def _pair(field: CustomField, value) -> tuple:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValidationError(_("Enter a lower and an upper bound."), code="invalid")
    low, high = (field.clean_value(bound) for bound in value)
    if low is None and high is None:
        raise ValidationError(_("Enter a lower and an upper bound."), code="invalid")
    return low, high


def _anniversary_within(text: _FieldText, *, days: int, today) -> Q:
    """Day and month (a birthday) fall within today and the next ``days`` days, in any year."""
    month_day = Substr(text, 6, 5)  # "MM-DD" of "YYYY-MM-DD"
    start, end = today.strftime("%m-%d"), (today + timedelta(days=days)).strftime("%m-%d")
    if start <= end:
        return Q(GreaterThanOrEqual(month_day, start)) & Q(LessThanOrEqual(month_day, end))
    return Q(GreaterThanOrEqual(month_day, start)) | Q(LessThanOrEqual(month_day, end))  # over New Year


def _days(value, *, limit: int = 36600) -> int:
    try:
        days = int(str(value).strip())
    except (TypeError, ValueError):
        days = -1
    if not 0 <= days <= limit:
        raise ValidationError(_("Enter a whole number of days."), code="invalid")
    return days


def _options(field: CustomField, value) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    chosen = sorted(
        {
            field_values.parse_value(kind=field_values.CHOICE, raw=item, options=field.choices)
            for item in items
            if not field_values.is_empty(item)
        }
    )
    if not chosen:
        raise ValidationError(_("Choose at least one option."), code="required")
    return chosen


def subscribers_not_suppressed(subscribers: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
    """``subscribers`` without those whose address is on the suppression list (kept as hashes, so
    matched in Python, and only when the list is not empty)."""
    suppressed = set(SuppressedAddress.objects.values_list("email_hash", flat=True))
    if not suppressed:
        return subscribers
    blocked = [
        pk
        for pk, email in subscribers.values_list("pk", "email").iterator(chunk_size=5000)
        if email_hash(email) in suppressed
    ]
    return subscribers.exclude(pk__in=blocked)
