from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_protect

from newsletter_site import permissions
from newsletter_site.admin_mixins import ReadOnlyAdminMixin
from newsletter_site.csv_export import csv_response
from subscribers import admin_actions, extensions, import_files, selectors
from subscribers.forms import CustomValueField, custom_form_fields
from subscribers.models import (
    ConsentRecord,
    ConsentText,
    CustomField,
    EspEvent,
    MailingList,
    Subscriber,
    SubscriberImport,
    Subscription,
    SuppressedAddress,
    Tag,
)
from subscribers.services import custom_fields, imports


class ConsentProofMixin:
    """The consent-proof export lists addresses, IP addresses and browsers of every consent."""

    def has_consent_proof_permission(self, request):
        return permissions.has_staff_permissions(
            request.user, "subscribers.view_subscriber", "subscribers.view_consentrecord"
        )


@admin.register(MailingList)
class MailingListAdmin(ConsentProofMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "language",
        "is_public",
        "active_count",
        "pending_count",
        "unsubscribed_count",
        "signup_form_link",
    ]
    list_filter = ["language", "is_public", "brand"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    actions = [admin_actions.export_consent_proof]

    def get_queryset(self, request):
        status = "subscriptions__status"
        return (
            super()
            .get_queryset(request)
            .annotate(
                active=Count("subscriptions", filter=Q(**{status: Subscription.Status.ACTIVE})),
                pending=Count("subscriptions", filter=Q(**{status: Subscription.Status.PENDING})),
                unsubscribed=Count("subscriptions", filter=Q(**{status: Subscription.Status.UNSUBSCRIBED})),
            )
            .order_by("name")  # an aggregate drops Meta.ordering; the autocomplete pages need one
        )

    @admin.display(description=_("active"), ordering="active")
    def active_count(self, obj):
        return obj.active

    @admin.display(description=_("pending"), ordering="pending")
    def pending_count(self, obj):
        return obj.pending

    @admin.display(description=_("unsubscribed"), ordering="unsubscribed")
    def unsubscribed_count(self, obj):
        return obj.unsubscribed

    @admin.display(description=_("sign-up form"))
    def signup_form_link(self, obj):
        return format_html(
            '<a href="{}" target="_blank">{}</a>', reverse("subscribers:subscribe", args=[obj.slug]), _("open")
        )


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]
    list_display = ["name", "subscriber_count"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(subscriber_total=Count("subscribers"))

    @admin.display(description=_("subscribers"), ordering="subscriber_total")
    def subscriber_count(self, obj):
        return obj.subscriber_total


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0
    fields = ["mailing_list", "status", "created_at", "confirmed_at", "unsubscribed_at"]
    readonly_fields = ["created_at", "confirmed_at", "unsubscribed_at"]


class ConsentRecordInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ConsentRecord
    extra = 0
    fields = [
        "occurred_at",
        "action",
        "mailing_list",
        "ip_address",
        "user_agent",
        "source_url",
        "consent_text_shown",
        "basis",
    ]
    readonly_fields = fields
    ordering = ["occurred_at", "pk"]
    verbose_name_plural = _("consent history (read-only)")


class SubscriberAdminForm(forms.ModelForm):
    """The subscriber with one widget per custom field; values go through ``CustomField.clean_value``."""

    class Meta:
        model = Subscriber
        # Subscriber.fields is edited through one form field per custom field instead.
        fields = ["email", "first_name", "last_name", "language", "time_zone", "status", "tracking_consent", "tags"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, form_field in self.fields.items():
            if isinstance(form_field, CustomValueField):
                self.initial.setdefault(name, self.instance.fields.get(form_field.custom_field.key))

    def clean(self):
        cleaned = super().clean()
        values = dict(self.instance.fields)
        for name, form_field in self.fields.items():
            if isinstance(form_field, CustomValueField) and name in cleaned:
                key = form_field.custom_field.key
                if cleaned[name] is None:
                    values.pop(key, None)
                else:
                    values[key] = cleaned[name]
        self.instance.fields = values
        return cleaned


@admin.register(Subscriber)
class SubscriberAdmin(ConsentProofMixin, admin.ModelAdmin):
    list_display = ["email", "first_name", "last_name", "status", "language", "tracking_consent", "created_at"]
    list_filter = ["status", "language", "tracking_consent", "subscriptions__mailing_list", "tags"]
    search_fields = ["email", "first_name", "last_name"]
    readonly_fields = ["public_id", "token_version", "soft_bounces", "created_at", "updated_at"]
    filter_horizontal = ["tags"]
    inlines = [SubscriptionInline, ConsentRecordInline]
    actions = admin_actions.SUBSCRIBER_ACTIONS
    list_per_page = 50
    show_full_result_count = False

    def get_inlines(self, request, obj):
        # The history other apps keep about the person (redemptions), after the page's own.
        return [*self.inlines, *(extensions.SUBSCRIBER_ADMIN_INLINES if obj is not None else [])]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # Staff may leave any field empty; "required" is for the subscriber's own forms.
        extra = custom_form_fields(CustomField.objects.all(), language=get_language(), required=False)
        kwargs["form"] = type("SubscriberAdminForm", (SubscriberAdminForm,), extra)
        return super().get_form(request, obj, change=change, **kwargs)


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    """Choices are edited as JSON in a text area; ``CustomField.clean`` names what is wrong."""

    list_display = [
        "key",
        "label_de",
        "label_en",
        "kind",
        "required",
        "signup_forms",
        "in_preferences",
        "editable",
        "position",
    ]
    list_editable = ["position"]
    list_filter = ["kind", "required", "in_preferences", "editable"]
    search_fields = ["key", "label_de", "label_en"]
    ordering = ["position", "pk"]
    filter_horizontal = ["mailing_lists"]
    fieldsets = [
        (None, {"fields": ["key", "kind", "label_de", "label_en", "help_de", "help_en", "choices", "position"]}),
        (_("Where it is asked"), {"fields": ["required", "all_lists", "mailing_lists", "in_preferences", "editable"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return ["key"] if obj else []

    @admin.display(description=_("sign-up forms"))
    def signup_forms(self, obj):
        if obj.all_lists:
            return _("all lists")
        return ", ".join(mailing_list.name for mailing_list in obj.mailing_lists.all()) or "—"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("mailing_lists")

    def delete_model(self, request, obj):
        custom_fields.custom_field_delete(field=obj)

    def delete_queryset(self, request, queryset):
        for field in queryset:
            custom_fields.custom_field_delete(field=field)


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    list_display = ["version", "language", "created_at", "text"]
    list_filter = ["language"]

    def get_readonly_fields(self, request, obj=None):
        # A version someone agreed to is evidence: it is never edited, a new version is added instead.
        return ["version", "language", "text", "created_at"] if obj else ["created_at"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["occurred_at", "subscriber", "action", "mailing_list", "ip_address"]
    list_filter = ["action", "mailing_list"]
    search_fields = ["subscriber__email", "ip_address"]
    list_select_related = ["subscriber", "mailing_list"]


@admin.register(SuppressedAddress)
class SuppressedAddressAdmin(admin.ModelAdmin):
    list_display = ["email_hash", "reason", "created_at"]
    list_filter = ["reason"]
    search_fields = ["email_hash"]


@admin.register(EspEvent)
class EspEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["received_at", "esp_name", "event_type", "recipient", "message_id"]
    list_filter = ["esp_name", "event_type"]
    search_fields = ["recipient", "message_id", "event_id"]


class ImportUploadForm(forms.Form):
    csv_file = forms.FileField(label=_("CSV file"))
    mailing_list = forms.ModelChoiceField(label=_("Mailing list"), queryset=MailingList.objects.all())
    tags = forms.ModelMultipleChoiceField(label=_("Tags"), queryset=Tag.objects.all(), required=False)
    consent_basis = forms.ChoiceField(
        label=_("Consent basis"), choices=SubscriberImport.ConsentBasis.choices, widget=forms.RadioSelect
    )
    consent_source = forms.CharField(
        label=_("Documented source of consent"),
        required=False,
        max_length=500,
        help_text=_("Required when consent is documented elsewhere, e.g. “paper forms, trade fair 2026, folder 7”."),
    )

    def __init__(self, *args, refused_files=(), **kwargs):
        super().__init__(*args, **kwargs)
        # A file refused while it arrived is not in request.FILES; say why instead of "required".
        self.refused_files = set(refused_files)
        if "csv_file" in self.refused_files:
            self.fields["csv_file"].required = False

    def clean_csv_file(self):
        if "csv_file" in self.refused_files:
            raise forms.ValidationError(str(import_files.file_too_large()))
        return self.cleaned_data["csv_file"]

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("consent_basis") == SubscriberImport.ConsentBasis.DOCUMENTED
            and not cleaned.get("consent_source", "").strip()
        ):
            self.add_error("consent_source", _("Say where the consent of these addresses is documented."))
        return cleaned


DELIMITER_NAMES = {",": _("comma"), ";": _("semicolon"), "\t": _("tab"), "|": _("vertical bar")}
ENCODING_NAMES = {
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "cp1252": _("Windows (cp1252)"),
    "latin-1": "ISO-8859-1",
}
MAPPING_LABELS = {
    "email": _("Email address"),
    "first_name": _("First name"),
    "last_name": _("Last name"),
    "language": _("Language"),
    "time_zone": _("Time zone"),
}


def mapping_labels() -> dict[str, str]:
    """What each mapping target is called: the subscriber's own fields, then every custom field."""
    return {
        **MAPPING_LABELS,
        **{
            import_files.custom_target(field.key): _("Custom field: %(label)s") % {"label": field.label()}
            for field in CustomField.objects.all()
        },
    }


class ImportMappingForm(forms.Form):
    def __init__(self, *args, header: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "—"), *[(column, column) for column in header]]
        for target, label in mapping_labels().items():
            self.fields[target] = forms.ChoiceField(label=label, choices=choices, required=target == "email")


# Starting an import creates subscribers.
IMPORT_PERMISSIONS = ("subscribers.add_subscriberimport", "subscribers.add_subscriber")


@admin.register(SubscriberImport)
class SubscriberImportAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "mailing_list",
        "status",
        "progress",
        "created_count",
        "updated_count",
        "skipped_count",
        "error_count",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "mailing_list"]

    def has_add_permission(self, request):
        return permissions.has_staff_permissions(request.user, *IMPORT_PERMISSIONS)

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("progress"))
    def progress(self, obj):
        return f"{obj.progress_percent} %"

    def get_urls(self):
        view = "subscribers.view_subscriberimport"
        return [
            permissions.admin_path(
                self,
                "<int:pk>/mapping/",
                self.mapping_view,
                *IMPORT_PERMISSIONS,
                name="subscribers_subscriberimport_mapping",
            ),
            permissions.admin_path(
                self, "<int:pk>/progress/", self.progress_view, view, name="subscribers_subscriberimport_progress"
            ),
            # The report lists rows of the file, addresses included.
            permissions.admin_path(
                self,
                "<int:pk>/report.csv",
                self.report_view,
                view,
                "subscribers.view_subscriber",
                name="subscribers_subscriberimport_report",
            ),
            *super().get_urls(),
        ]

    def _context(self, request, **extra):
        return {**self.admin_site.each_context(request), "opts": self.model._meta, **extra}

    def add_view(self, request, form_url="", extra_context=None):
        permissions.require(request, *IMPORT_PERMISSIONS)
        # The size limit has to be in place before anything reads the upload, the CSRF check
        # included; so the CSRF check runs inside, in _upload_view.
        limit = import_files.ImportUploadLimit(request)
        request.upload_handlers.insert(0, limit)
        return self._upload_view(request, limit)

    add_view.csrf_exempt = True

    @method_decorator(csrf_protect)
    def _upload_view(self, request, limit: import_files.ImportUploadLimit):
        form = ImportUploadForm(request.POST or None, request.FILES or None, refused_files=limit.refused)
        if request.method == "POST" and form.is_valid():
            try:
                subscriber_import = imports.subscriber_import_create(
                    upload=form.cleaned_data["csv_file"],
                    mailing_list=form.cleaned_data["mailing_list"],
                    tags=form.cleaned_data["tags"],
                    consent_basis=form.cleaned_data["consent_basis"],
                    consent_source=form.cleaned_data["consent_source"],
                    created_by=request.user,
                )
            except imports.ImportFileError as error:
                form.add_error("csv_file", str(error))
            else:
                return redirect("admin:subscribers_subscriberimport_mapping", pk=subscriber_import.pk)
        return TemplateResponse(
            request,
            "admin/subscribers/subscriberimport/upload.html",
            self._context(request, title=_("Import subscribers from CSV"), form=form),
            status=400 if form.errors else 200,
        )

    def mapping_view(self, request, pk):
        subscriber_import = get_object_or_404(SubscriberImport, pk=pk)
        if subscriber_import.status != SubscriberImport.Status.UPLOADED:
            return redirect("admin:subscribers_subscriberimport_change", subscriber_import.pk)
        parsed = imports.parsed_file_of(subscriber_import)
        form = ImportMappingForm(request.POST or None, header=parsed.header, initial=subscriber_import.column_mapping)
        if request.method == "POST" and form.is_valid():
            try:
                imports.subscriber_import_start(subscriber_import=subscriber_import, column_mapping=form.cleaned_data)
            except imports.ImportFileError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("The import runs in the background now."))
                return redirect("admin:subscribers_subscriberimport_change", subscriber_import.pk)
        return TemplateResponse(
            request,
            "admin/subscribers/subscriberimport/mapping.html",
            self._context(
                request,
                title=_("Map the columns of %(name)s") % {"name": subscriber_import},
                form=form,
                header=parsed.header,
                rows=import_files.preview(parsed),
                delimiter=DELIMITER_NAMES.get(parsed.dialect.delimiter, parsed.dialect.delimiter),
                encoding=ENCODING_NAMES.get(parsed.encoding, parsed.encoding),
                subscriber_import=subscriber_import,
            ),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        permissions.require(request, "subscribers.view_subscriberimport")
        subscriber_import = get_object_or_404(SubscriberImport, pk=object_id)
        if subscriber_import.status == SubscriberImport.Status.UPLOADED:
            return redirect("admin:subscribers_subscriberimport_mapping", pk=subscriber_import.pk)
        labels = mapping_labels()
        return TemplateResponse(
            request,
            "admin/subscribers/subscriberimport/detail.html",
            self._context(
                request,
                title=str(subscriber_import),
                subscriber_import=subscriber_import,
                mapping=[
                    (labels.get(target, target), column)
                    for target, column in subscriber_import.column_mapping.items()
                    if column
                ],
                problem_counts=selectors.import_problem_counts(subscriber_import=subscriber_import),
                problems_stored=subscriber_import.problems.count(),
                problems_total=subscriber_import.skipped_count + subscriber_import.error_count,
            ),
        )

    def progress_view(self, request, pk):
        subscriber_import = get_object_or_404(SubscriberImport, pk=pk)
        return JsonResponse(
            {
                "status": subscriber_import.status,
                "status_display": str(subscriber_import.get_status_display()),
                "total_rows": subscriber_import.total_rows,
                "processed_rows": subscriber_import.processed_rows,
                "percent": subscriber_import.progress_percent,
                "created": subscriber_import.created_count,
                "updated": subscriber_import.updated_count,
                "skipped": subscriber_import.skipped_count,
                "errors": subscriber_import.error_count,
                "failure_reason": subscriber_import.failure_reason,
                "finished": subscriber_import.status in (SubscriberImport.Status.DONE, SubscriberImport.Status.FAILED),
            }
        )

    def report_view(self, request, pk):
        subscriber_import = get_object_or_404(SubscriberImport, pk=pk)
        rows = selectors.import_report_rows(subscriber_import=subscriber_import)
        return csv_response(rows, filename=f"import-{subscriber_import.pk}-report.csv")
