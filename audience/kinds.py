"""The condition kinds on what subscribers holds: lists, tags, status, language, sign-up, consent,
custom fields.

Registered in ``AudienceConfig.ready()``; the apps above register theirs (``campaigns.conditions``,
``tracking.conditions``, ``surveys.conditions``).
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audience.conditions import BOOL, CHOICE, DATE, INT, REF, REFS, TEXT, ConditionKind, Group, Param, register
from subscribers.models import ConsentRecord, CustomField, Language, MailingList, Subscriber, Subscription, Tag
from subscribers.selectors import CUSTOM_FIELD_OPERATOR_LABELS, custom_field_q


def day_start(value: str) -> datetime.datetime:
    """Midnight at the start of an ISO date, in the current time zone."""
    return timezone.make_aware(datetime.datetime.combine(datetime.date.fromisoformat(value), datetime.time()))


def _lists(params: dict) -> Q:
    subscribed = Subscription.objects.filter(mailing_list_id__in=params["lists"], status=Subscription.Status.ACTIVE)
    if connection.vendor == "sqlite":
        # SQLite walks the list's (mailing_list, status) index and looks the subscribers up by key,
        # instead of scanning every subscriber with a subquery each (docs/benchmarks.md, Segments).
        # PostgreSQL plans EXISTS as a semi or anti join; NOT IN it could not.
        return Q(pk__in=subscribed.values("subscriber_id"))
    return Q(Exists(subscribed.filter(subscriber=OuterRef("pk"))))


def _tags(params: dict) -> Q:
    return Q(Exists(Subscriber.tags.through.objects.filter(subscriber=OuterRef("pk"), tag_id__in=params["tags"])))


WHEN_BEFORE, WHEN_SINCE, WHEN_WITHIN = "before", "since", "within_days"


def _signup_clean(params: dict) -> dict:
    if params["when"] == WHEN_WITHIN and params["days"] is None:
        raise ValidationError(gettext("Give the number of days."), code="required")
    if params["when"] != WHEN_WITHIN and params["date"] is None:
        raise ValidationError(gettext("Give the date."), code="required")
    return params


def _signup_date(params: dict) -> Q:
    if params["when"] == WHEN_WITHIN:
        return Q(created_at__gte=timezone.now() - datetime.timedelta(days=params["days"]))
    if params["when"] == WHEN_BEFORE:
        return Q(created_at__lt=day_start(params["date"]))
    return Q(created_at__gte=day_start(params["date"]))


SOURCE_FORM, SOURCE_IMPORT = "form", "import"


def _signup_source(params: dict) -> Q:
    action = ConsentRecord.Action.SIGNUP if params["source"] == SOURCE_FORM else ConsentRecord.Action.IMPORT
    records = ConsentRecord.objects.filter(subscriber=OuterRef("pk"), action=action)
    if params["url_contains"]:
        records = records.filter(source_url__icontains=params["url_contains"])
    return Q(Exists(records))


def register_profile_kinds() -> None:
    register(
        ConditionKind(
            key="lists",
            label=_("subscribed to any of these lists"),
            group=Group.PROFILE,
            params=(Param("lists", _("mailing lists"), REFS, queryset=lambda: MailingList.objects.all()),),
            q=_lists,
        )
    )
    register(
        ConditionKind(
            key="tags",
            label=_("has any of these tags"),
            group=Group.PROFILE,
            params=(Param("tags", _("tags"), REFS, queryset=lambda: Tag.objects.all()),),
            q=_tags,
        )
    )
    register(
        ConditionKind(
            key="status",
            cost=1,
            label=_("status is"),
            group=Group.PROFILE,
            params=(Param("status", _("status"), CHOICE, choices=tuple(Subscriber.Status.choices)),),
            q=lambda params: Q(status=params["status"]),
        )
    )
    register(
        ConditionKind(
            key="language",
            cost=1,
            label=_("language is"),
            group=Group.PROFILE,
            params=(Param("language", _("language"), CHOICE, choices=tuple(Language.choices)),),
            q=lambda params: Q(language=params["language"]),
        )
    )
    register(
        ConditionKind(
            key="signup_date",
            cost=1,
            label=_("signed up"),
            group=Group.PROFILE,
            params=(
                Param(
                    "when",
                    _("when"),
                    CHOICE,
                    choices=(
                        (WHEN_BEFORE, _("before the date")),
                        (WHEN_SINCE, _("on or after the date")),
                        (WHEN_WITHIN, _("within the last days")),
                    ),
                ),
                Param("date", _("date"), DATE, required=False),
                Param("days", _("days"), INT, required=False, min_value=1, max_value=36500),
            ),
            clean=_signup_clean,
            q=_signup_date,
        )
    )
    register(
        ConditionKind(
            key="signup_source",
            label=_("came in through"),
            group=Group.PROFILE,
            params=(
                Param(
                    "source",
                    _("source"),
                    CHOICE,
                    choices=((SOURCE_FORM, _("a sign-up form")), (SOURCE_IMPORT, _("a CSV import"))),
                ),
                Param(
                    "url_contains",
                    _("sign-up page address contains"),
                    TEXT,
                    required=False,
                    default="",
                    help_text=_("Only for sign-up forms: part of the address of the page with the form."),
                ),
            ),
            q=_signup_source,
        )
    )
    register(
        ConditionKind(
            key="tracking_consent",
            cost=1,
            label=_("agreed to individual tracking"),
            group=Group.PROFILE,
            params=(Param("consent", _("agreed"), BOOL, required=False, default=True),),
            q=lambda params: Q(tracking_consent=params["consent"]),
        )
    )


def _field_value(operator: str, raw: str):
    """The editor's one text value in the shape ``custom_field_q`` takes for ``operator``."""
    if operator == "between":
        low, separator, high = raw.partition("..")
        if not separator:
            raise ValidationError(gettext("Enter two values separated by “..”, e.g. 30..40."), code="invalid")
        return [low.strip(), high.strip()]
    if operator in ("is_any_of", "has_any_of"):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _custom_field_clean(params: dict) -> dict:
    field = CustomField.objects.get(pk=params["field"])
    value = _field_value(params["operator"], params["value"])
    # Built once here so a value of the wrong type or an operator that does not fit the field's
    # kind is a form error now, not a failure when the campaign is sent.
    custom_field_q(field=field, operator=params["operator"], value=value)
    return {**params, "value": value}


def _custom_field(params: dict) -> Q:
    field = CustomField.objects.get(pk=params["field"])
    return custom_field_q(field=field, operator=params["operator"], value=params["value"])


def register_custom_field_kind() -> None:
    register(
        ConditionKind(
            key="custom_field",
            cost=2,
            label=_("custom field"),
            group=Group.FIELDS,
            params=(
                Param("field", _("field"), REF, queryset=lambda: CustomField.objects.all()),
                Param("operator", _("operator"), CHOICE, choices=tuple(CUSTOM_FIELD_OPERATOR_LABELS.items())),
                Param("value", _("value"), TEXT, required=False, default=""),
            ),
            clean=_custom_field_clean,
            q=_custom_field,
        )
    )
