import hashlib
import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from brands.models import Brand
from subscribers import field_values


def normalise_email(email: str) -> str:
    """The one spelling of an address that Kanal stores and compares: trimmed, lower case."""
    return (email or "").strip().lower()


def email_hash(email: str) -> str:
    """The suppression-list key of an address: its SHA-256, so an erased address is not kept."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def validate_time_zone(value: str) -> None:
    """An IANA zone name that zoneinfo knows ("Europe/Berlin"); blank means the site's TIME_ZONE."""
    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            _("“%(zone)s” is not a known time zone; use a name such as Europe/Berlin."), params={"zone": value}
        ) from None


class Language(models.TextChoices):
    GERMAN = "de", _("German")
    ENGLISH = "en", _("English")


class MailingList(models.Model):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    public_description = models.TextField(_("public description"), blank=True)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.GERMAN)
    is_public = models.BooleanField(_("shown on the public sign-up and preference pages"), default=True)
    # PROTECT: deleting a brand must not silently change the legal footer of a list's mails.
    brand = models.ForeignKey(
        Brand,
        verbose_name=_("brand"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="mailing_lists",
        help_text=_("The look and legal footer of this list's mails and pages. Empty: the default brand."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        default="",
        db_default="",
        validators=[validate_time_zone],
        help_text=_(
            "An IANA name such as Europe/Berlin: the time zone of members who have none of their own. "
            "Empty: the site's time zone."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("mailing list")
        verbose_name_plural = _("mailing lists")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Subscriber(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending confirmation")
        ACTIVE = "active", _("active")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
        BOUNCED = "bounced", _("bounced")
        COMPLAINED = "complained", _("complained")

    # Statuses that must never receive another newsletter.
    BLOCKED_STATUSES = (Status.UNSUBSCRIBED, Status.BOUNCED, Status.COMPLAINED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField(_("email address"), max_length=254, unique=True)
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.GERMAN)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    tracking_consent = models.BooleanField(_("consents to individual open and click tracking"), default=False)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        default="",
        db_default="",
        validators=[validate_time_zone],
        help_text=_("An IANA name such as Europe/Berlin; empty: the site's time zone."),
    )
    # Part of every link token made for this subscriber; raising it revokes all their links at once.
    token_version = models.PositiveIntegerField(_("link version"), default=0, db_default=0, editable=False)
    # Soft bounces since the last human open or click (subscribers.services.feedback.soft_bounce_record).
    soft_bounces = models.PositiveSmallIntegerField(_("soft bounces in a row"), default=0, db_default=0, editable=False)
    # Part of the one-time data links; set when one is used, which spends every other one.
    data_link_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="subscribers")
    # Custom field values by CustomField.key, typed JSON (subscribers.field_values); see docs/architecture.md.
    fields = models.JSONField(
        _("custom fields"), default=dict, db_default=models.Value({}, models.JSONField()), blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=models.functions.Lower("email")),
                name="subscriber_email_is_normalised",
            )
        ]

    def __str__(self):
        return self.email

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


class CustomField(models.Model):
    """A typed value staff define for every subscriber (city, birthday, interests), stored in ``Subscriber.fields``."""

    class Kind(models.TextChoices):
        TEXT = field_values.TEXT, _("text")
        NUMBER = field_values.NUMBER, _("number")
        DATE = field_values.DATE, _("date")
        BOOLEAN = field_values.BOOLEAN, _("yes/no")
        CHOICE = field_values.CHOICE, _("single choice")
        MULTIPLE_CHOICE = field_values.MULTIPLE_CHOICE, _("multiple choice")

    key = models.CharField(
        _("key"),
        max_length=50,
        unique=True,
        validators=[
            RegexValidator(
                field_values.KEY_RE,
                _("Use lower-case letters, digits and _, starting with a letter, e.g. “city” or “contract_end”."),
            )
        ],
        help_text=_(
            "The name in merge tags ({{ subscriber.fields.city }}), imports and exports. Cannot be changed later."
        ),
    )
    label_de = models.CharField(_("label (German)"), max_length=200)
    label_en = models.CharField(_("label (English)"), max_length=200)
    help_de = models.CharField(_("help text (German)"), max_length=500, blank=True)
    help_en = models.CharField(_("help text (English)"), max_length=500, blank=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.TEXT)
    choices = models.JSONField(
        _("choices"),
        default=list,
        blank=True,
        help_text=_(
            'Only for choice fields: a list such as [{"value": "berlin", "label_de": "Berlin", "label_en": "Berlin"}]. '
            "The value is stored and used in segments and imports; the labels are shown."
        ),
    )
    required = models.BooleanField(
        _("required"),
        default=False,
        help_text=_("Sign-up forms refuse an empty value; the preference centre keeps a value from being removed."),
    )
    all_lists = models.BooleanField(_("on the sign-up form of every list"), default=False)
    mailing_lists = models.ManyToManyField(
        MailingList,
        verbose_name=_("on the sign-up forms of these lists"),
        blank=True,
        related_name="custom_fields",
    )
    in_preferences = models.BooleanField(_("shown in the preference centre"), default=False)
    editable = models.BooleanField(
        _("editable by the subscriber"),
        default=True,
        help_text=_("Otherwise the preference centre shows the value without letting the subscriber change it."),
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["position", "pk"]

    def __str__(self):
        return self.label()

    def clean(self):
        try:
            field_values.check_options(self.kind, self.choices)
        except ValidationError as error:
            raise ValidationError({"choices": error}) from error
        if self.pk is None:
            return
        stored = CustomField.objects.filter(pk=self.pk).values("key", "kind", "choices").first()
        if stored is None:
            return
        if stored["key"] != self.key:
            raise ValidationError({"key": _("The key of a field cannot be changed.")})
        in_use = Subscriber.objects.filter(fields__has_key=self.key)
        if stored["kind"] != self.kind and in_use.exists():
            raise ValidationError({"kind": _("Subscribers hold values of this field; its kind cannot be changed.")})
        if self.kind in field_values.CHOICE_KINDS and stored["kind"] == self.kind:
            kept = {option["value"] for option in self.choices}
            from subscribers.selectors import custom_field_q

            before = CustomField(key=self.key, kind=self.kind, choices=stored["choices"])
            operator = "has" if self.kind == self.Kind.MULTIPLE_CHOICE else "is"
            for option in stored["choices"]:
                if option["value"] not in kept:
                    chosen = custom_field_q(field=before, operator=operator, value=option["value"])
                    if Subscriber.objects.filter(chosen).exists():
                        raise ValidationError(
                            {
                                "choices": _("Subscribers chose “%(value)s”; that option cannot be removed.")
                                % {"value": option["value"]}
                            }
                        )

    def clean_value(self, raw):
        """``raw`` as stored in ``Subscriber.fields`` (None when empty); raises ValidationError.

        The one place the typing rule lives (``subscribers.field_values``): forms, the import and
        the admin call it.
        """
        return field_values.parse_value(kind=self.kind, raw=raw, options=self.choices)

    def label(self, language: str | None = None) -> str:
        return field_values.localised(self.label_de, self.label_en, language)

    def help_text(self, language: str | None = None) -> str:
        return field_values.localised(self.help_de, self.help_en, language)

    def display_format(self) -> field_values.FieldFormat:
        return field_values.FieldFormat.build(kind=self.kind, options=self.choices)

    def option_choices(self, language: str | None = None) -> list[tuple[str, str]]:
        return [
            (option["value"], field_values.localised(option["label_de"], option["label_en"], language))
            for option in self.choices
        ]


class Subscription(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("pending confirmation")
        ACTIVE = "active", _("active")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")

    subscriber = models.ForeignKey(
        Subscriber, verbose_name=_("subscriber"), on_delete=models.CASCADE, related_name="subscriptions"
    )
    mailing_list = models.ForeignKey(
        MailingList, verbose_name=_("mailing list"), on_delete=models.CASCADE, related_name="subscriptions"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    # Part of the signed confirmation token; cleared once used, which makes the link single-use.
    confirmation_nonce = models.CharField(max_length=32, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "mailing_list"], name="one_subscription_per_list"),
        ]
        indexes = [models.Index(fields=["mailing_list", "status"])]

    def __str__(self):
        return f"{self.subscriber} → {self.mailing_list}"


class ConsentText(models.Model):
    """The wording a subscriber agreed to. Versions are never edited, only added."""

    version = models.PositiveIntegerField(_("version"))
    language = models.CharField(_("language"), max_length=8, choices=Language.choices)
    text = models.TextField(_("text"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        ordering = ["language", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["language", "version"], name="one_consent_text_per_version"),
        ]

    def __str__(self):
        return f"v{self.version} ({self.language})"


class ConsentRecord(models.Model):
    """Append-only proof of consent and of every later change to it."""

    class Action(models.TextChoices):
        SIGNUP = "signup", _("signed up")
        CONFIRM = "confirm", _("confirmed")
        UNSUBSCRIBE = "unsubscribe", _("unsubscribed")
        PREFERENCES = "preferences", _("changed preferences")
        IMPORT = "import", _("imported")
        BOUNCE = "bounce", _("bounced")
        COMPLAINT = "complaint", _("complained")
        ERASE = "erase", _("erased")
        ADMIN = "admin", _("changed by staff")

    subscriber = models.ForeignKey(
        Subscriber,
        verbose_name=_("subscriber"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="consent_records",
    )
    mailing_list = models.ForeignKey(
        MailingList, verbose_name=_("mailing list"), on_delete=models.SET_NULL, null=True, blank=True
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    occurred_at = models.DateTimeField(_("occurred at"), auto_now_add=True, db_index=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=500, blank=True)
    source_url = models.CharField(_("source URL"), max_length=1000, blank=True)
    consent_text = models.ForeignKey(
        ConsentText, verbose_name=_("consent text"), on_delete=models.PROTECT, null=True, blank=True
    )
    consent_text_shown = models.TextField(_("consent text as shown"), blank=True)
    basis = models.CharField(_("legal basis or documented source"), max_length=500, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["occurred_at", "pk"]

    def __str__(self):
        return f"{self.get_action_display()} {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Consent records are append-only.")
        super().save(*args, **kwargs)


class ConfirmationMail(models.Model):
    """One row per double-opt-in mail queued: the durable count behind the per-address daily cap."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="confirmation_mails")
    queued_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    esp_message_id = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = _("confirmation mail")
        verbose_name_plural = _("confirmation mails")

    def __str__(self):
        return f"{self.subscription} @ {self.queued_at:%Y-%m-%d %H:%M}"


class SuppressedAddress(models.Model):
    """Addresses that must never be mailed or silently re-added, kept only as a hash."""

    class Reason(models.TextChoices):
        ERASED = "erased", _("erased on request")
        BOUNCED = "bounced", _("hard bounce")
        COMPLAINED = "complained", _("spam complaint")
        MANUAL = "manual", _("added by staff")

    email_hash = models.CharField(_("address hash"), max_length=64, unique=True)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppression list")

    def __str__(self):
        return f"{self.email_hash[:12]}… ({self.get_reason_display()})"


class EspEvent(models.Model):
    """An Anymail tracking event already handled, so a re-delivered webhook changes nothing."""

    event_id = models.CharField(max_length=255, unique=True)
    esp_name = models.CharField(max_length=50, blank=True)
    event_type = models.CharField(max_length=32)
    recipient = models.CharField(max_length=254, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ESP event")
        verbose_name_plural = _("ESP events")

    def __str__(self):
        return f"{self.event_type} {self.event_id}"


class SubscriberImport(models.Model):
    """A CSV upload and the worker's progress through it."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("waiting for column mapping")
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    class ConsentBasis(models.TextChoices):
        DOUBLE_OPT_IN = "double_opt_in", _("send each new address a double-opt-in mail")
        DOCUMENTED = "documented", _("consent already documented elsewhere (source required)")

    csv_file = models.FileField(_("CSV file"), upload_to="imports/")
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    mailing_list = models.ForeignKey(MailingList, verbose_name=_("mailing list"), on_delete=models.PROTECT)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True)
    column_mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    consent_basis = models.CharField(_("consent basis"), max_length=16, choices=ConsentBasis.choices)
    consent_source = models.CharField(_("documented source of consent"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    # {reason: rows} over the whole file; the rows themselves are kept only up to a limit (ImportProblem).
    problem_counts = models.JSONField(_("problems by reason"), default=dict, blank=True)
    failure_reason = models.TextField(_("failure reason"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("subscriber import")
        verbose_name_plural = _("subscriber imports")
        ordering = ["-created_at"]

    def __str__(self):
        return self.original_name or f"import {self.pk}"

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


# What an import cell of each kind must look like, for the per-row report.
FIELD_EXPECTATIONS = {
    CustomField.Kind.TEXT: _("text of at most 500 characters"),
    CustomField.Kind.NUMBER: _("a number such as 42 or 3.5"),
    CustomField.Kind.DATE: _("a date as YYYY-MM-DD or DD.MM.YYYY"),
    CustomField.Kind.BOOLEAN: _("yes or no"),
    CustomField.Kind.CHOICE: _("one of the options"),
    CustomField.Kind.MULTIPLE_CHOICE: _("options separated by | or ,"),
}


class ImportProblem(models.Model):
    """A row of an import that was skipped or failed. Of a large file only the first rows are kept."""

    class Reason(models.TextChoices):
        NO_EMAIL = "no_email", _("no email address")
        EMAIL_TOO_LONG = "email_too_long", _("email address too long")
        INVALID_EMAIL = "invalid_email", _("not a valid email address")
        NAME_TOO_LONG = "name_too_long", _("name too long")
        DUPLICATE = "duplicate", _("duplicate in this file")
        SUPPRESSED = "suppressed", _("on the suppression list (erased, bounced or complained)")
        BLOCKED = "blocked", _("unsubscribed, bounced or complained before")
        LEFT_LIST = "left_list", _("unsubscribed from this list before")
        PENDING_ON_LIST = "pending_on_list", _("already on this list, waiting for confirmation")
        ON_LIST = "on_list", _("already on this list")
        UNKNOWN_TIME_ZONE = "unknown_time_zone", _("not a known time zone")

    subscriber_import = models.ForeignKey(
        SubscriberImport, verbose_name=_("subscriber import"), on_delete=models.CASCADE, related_name="problems"
    )
    row_number = models.PositiveIntegerField(_("row"))
    email = models.CharField(_("email address as written in the file"), max_length=255, blank=True)
    # A Reason, or the text of a report written before reasons had codes.
    reason = models.CharField(_("problem"), max_length=255)

    class Meta:
        verbose_name = _("import problem")
        verbose_name_plural = _("import problems")
        ordering = ["row_number"]
        constraints = [
            models.UniqueConstraint(fields=["subscriber_import", "row_number"], name="one_problem_per_import_row")
        ]

    def __str__(self):
        return f"{self.row_number}: {self.describe(self.reason)}"

    FIELD_REASON_PREFIX = "field:"

    @classmethod
    def field_reason(cls, key: str) -> str:
        """The problem code of a cell that does not fit the custom field ``key``."""
        return cls.FIELD_REASON_PREFIX + key

    @classmethod
    def describe(cls, reason: str, custom_fields: dict[str, "CustomField"] | None = None) -> str:
        """The reason in words, in the active language; ``custom_fields`` by key saves a query per row."""
        if reason.startswith(cls.FIELD_REASON_PREFIX):
            key = reason.removeprefix(cls.FIELD_REASON_PREFIX)
            field = (
                (custom_fields or {}).get(key)
                if custom_fields is not None
                else CustomField.objects.filter(key=key).first()
            )
            if field is None:
                return gettext("value does not fit the custom field “%(field)s”") % {"field": key}
            return gettext("value does not fit the custom field “%(field)s”: %(expected)s") % {
                "field": field.label(),
                "expected": FIELD_EXPECTATIONS[field.kind],
            }
        if reason == cls.Reason.NAME_TOO_LONG:
            limit = Subscriber._meta.get_field("first_name").max_length
            return gettext("name longer than %(limit)d characters") % {"limit": limit}
        return str(cls.Reason(reason).label) if reason in cls.Reason.values else reason
