import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from newsletter_site import outbound
from newsletter_site.admin_mixins import ReadOnlyAdminMixin
from newsletter_site.permissions import has_staff_permissions
from webhooks import services
from webhooks.events import EventType
from webhooks.models import Delivery, Endpoint


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        label=_("URL"), max_length=2000, assume_scheme="https", widget=forms.URLInput(attrs={"size": 80})
    )
    events = forms.MultipleChoiceField(
        label=_("events"), widget=forms.CheckboxSelectMultiple, choices=EventType.choices, required=False
    )

    class Meta:
        model = Endpoint
        fields = ["url", "description", "events", "is_active"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError(_("Enter an http or https address."))
        if outbound.refused_at_entry(url):
            raise forms.ValidationError(
                _("This address is in a private or local network; webhooks are only sent to public addresses.")
            )
        return url


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    """Endpoints and the events they chose; the signing secret stays hidden until staff open it."""

    form = EndpointForm
    list_display = ["__str__", "url", "is_active", "event_list", "consecutive_failures", "disabled_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    readonly_fields = ["signing_secret", "consecutive_failures", "disabled_at", "disabled_reason", "created_at"]
    actions = ["send_test_event"]

    def get_fields(self, request, obj=None):
        fields = ["url", "description", "events", "is_active"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    @admin.display(description=_("events"))
    def event_list(self, obj):
        return ", ".join(obj.events)

    @admin.display(description=_("signing secret"))
    def signing_secret(self, obj):
        return format_html(
            "<details><summary>whsec_…{} ({})</summary><code>{}</code></details>",
            obj.secret[-4:],
            _("show"),
            obj.secret,
        )

    def save_model(self, request, obj, form, change):
        turned_on = change and "is_active" in form.changed_data and obj.is_active
        super().save_model(request, obj, form, change)
        if turned_on:
            services.endpoint_enable(endpoint=obj)

    @admin.action(description=_("Send a test event to the selected endpoints"), permissions=["change"])
    def send_test_event(self, request, queryset):
        endpoints = list(queryset.filter(is_active=True))
        for endpoint in endpoints:
            services.endpoint_test_send(endpoint=endpoint)
        messages.success(
            request,
            ngettext(
                "A test event was queued for %(count)d endpoint; see the delivery log.",
                "A test event was queued for %(count)d endpoints; see the delivery log.",
                len(endpoints),
            )
            % {"count": len(endpoints)},
        )
        skipped = queryset.count() - len(endpoints)
        if skipped:
            messages.warning(request, _("Inactive endpoints get no test event; turn them on first."))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The delivery log: each event's attempts per endpoint and the last answer."""

    list_display = [
        "message_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "endpoint", "message__event_type"]
    search_fields = ["message__message_id"]
    list_select_related = ["message", "endpoint"]
    fields = [
        "message_id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "last_response",
        "payload",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["deliver_again"]

    def has_deliver_again_permission(self, request):
        return has_staff_permissions(request.user, "webhooks.change_endpoint")

    @admin.action(description=_("Deliver the selected messages again"), permissions=["deliver_again"])
    def deliver_again(self, request, queryset):
        count = services.deliveries_retry(delivery_ids=list(queryset.values_list("pk", flat=True)))
        messages.success(
            request,
            ngettext("%(count)d delivery queued again.", "%(count)d deliveries queued again.", count)
            % {"count": count},
        )

    @admin.display(description=_("message id"), ordering="message__message_id")
    def message_id(self, obj):
        return obj.message.message_id

    @admin.display(description=_("event type"), ordering="message__event_type")
    def event_type(self, obj):
        return obj.message.event_type

    @admin.display(description=_("payload"))
    def payload(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.message.payload, indent=2, ensure_ascii=False))
