"""Admin actions on subscribers. Each is thin and calls a service."""

import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from newsletter_site.csv_export import csv_response
from subscribers.consent_export import consent_records_for, consent_records_rows
from subscribers.models import CustomField, Subscription
from subscribers.services import data_links, gdpr, optin, preferences


@admin.action(description=_("Resend confirmation mail"), permissions=["change"])
def resend_confirmation(modeladmin, request, queryset):
    pending = Subscription.objects.filter(subscriber__in=queryset, status=Subscription.Status.PENDING)
    queued = sum(1 for subscription in pending if optin.confirmation_mail_queue(subscription=subscription))
    modeladmin.message_user(
        request,
        ngettext("%(count)d confirmation mail queued.", "%(count)d confirmation mails queued.", queued)
        % {"count": queued},
        messages.SUCCESS if queued else messages.WARNING,
    )


@admin.action(description=_("Unsubscribe from all lists"), permissions=["change"])
def unsubscribe(modeladmin, request, queryset):
    changed = sum(
        1
        for subscriber in queryset
        if preferences.subscriber_unsubscribe(subscriber=subscriber, source="admin", actor=request.user)
    )
    modeladmin.message_user(
        request,
        ngettext("%(count)d subscriber unsubscribed.", "%(count)d subscribers unsubscribed.", changed)
        % {"count": changed},
        messages.SUCCESS,
    )


@admin.action(description=_("Revoke all links of these subscribers"), permissions=["change"])
def revoke_links(modeladmin, request, queryset):
    count = 0
    for subscriber in queryset:
        data_links.subscriber_links_revoke(subscriber=subscriber)
        count += 1
    modeladmin.message_user(
        request,
        ngettext(
            "The links in mails sent so far to %(count)d subscriber no longer work.",
            "The links in mails sent so far to %(count)d subscribers no longer work.",
            count,
        )
        % {"count": count},
        messages.SUCCESS,
    )


@admin.action(description=_("Erase personal data (GDPR)"), permissions=["delete"])
def erase(modeladmin, request, queryset):
    if request.POST.get("confirmed") == "yes":
        count = 0
        for subscriber in queryset:
            gdpr.subscriber_erase(subscriber=subscriber, actor=request.user)
            count += 1
        modeladmin.message_user(
            request,
            ngettext("%(count)d subscriber erased.", "%(count)d subscribers erased.", count) % {"count": count},
            messages.SUCCESS,
        )
        return None
    return TemplateResponse(
        request,
        "admin/subscribers/subscriber/erase_confirmation.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": _("Erase personal data?"),
            "subscribers": queryset,
            "opts": modeladmin.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        },
    )


@admin.action(description=_("Export data as JSON (GDPR)"), permissions=["view"])
def export_json(modeladmin, request, queryset):
    exports = [gdpr.subscriber_export(subscriber=subscriber) for subscriber in queryset]
    response = HttpResponse(
        json.dumps(exports[0] if len(exports) == 1 else exports, indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="kanal-subscribers-{timezone.now():%Y%m%d-%H%M}.json"'
    return response


@admin.action(description=_("Export as CSV"), permissions=["view"])
def export_csv(modeladmin, request, queryset):
    subscribers = queryset.prefetch_related("tags", "subscriptions__mailing_list").order_by("pk")
    # One column per custom field, named by its key, so the file imports again as it is.
    keys = list(CustomField.objects.order_by("position", "pk").values_list("key", flat=True))

    def rows():
        yield ["email", "first_name", "last_name", "language", "status", "lists", "tags", "created_at", *keys]
        for subscriber in subscribers.iterator(chunk_size=2000):
            values = subscriber.fields
            yield [
                subscriber.email,
                subscriber.first_name,
                subscriber.last_name,
                subscriber.language,
                subscriber.status,
                "|".join(
                    s.mailing_list.name
                    for s in subscriber.subscriptions.all()
                    if s.status == Subscription.Status.ACTIVE
                ),
                "|".join(tag.name for tag in subscriber.tags.all()),
                subscriber.created_at,
                *(_export_value(values.get(key)) for key in keys),
            ]

    return csv_response(rows(), filename=f"kanal-subscribers-{timezone.now():%Y%m%d-%H%M}.csv")


def _export_value(value):
    """A stored custom field value as a cell the import reads back: options joined by "|"."""
    if isinstance(value, list):
        return "|".join(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


@admin.action(description=_("Export consent proof as CSV"), permissions=["consent_proof"])
def export_consent_proof(modeladmin, request, queryset):
    """On subscribers or on mailing lists: every consent record of the selection."""
    selection = "subscribers" if queryset.model._meta.model_name == "subscriber" else "mailing_lists"
    rows = consent_records_rows(consent_records_for(**{selection: queryset}))
    return csv_response(rows, filename=f"kanal-consent-{timezone.now():%Y%m%d-%H%M}.csv")


SUBSCRIBER_ACTIONS: list = [
    resend_confirmation,
    unsubscribe,
    revoke_links,
    erase,
    export_json,
    export_csv,
    export_consent_proof,
]
