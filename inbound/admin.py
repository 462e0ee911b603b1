from django.contrib import admin

from inbound.models import InboundMessage
from newsletter_site.admin_mixins import ReadOnlyAdminMixin


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The log of mails that came back: bounces, complaints, mailto unsubscribes, what was ignored."""

    list_display = ["received_at", "kind", "outcome", "recipient", "subscriber", "delivery", "status_code", "source"]
    list_filter = ["kind", "outcome", "applied", "source"]
    search_fields = ["recipient", "original_message_id", "event_id"]
    list_select_related = ["subscriber", "delivery"]
    date_hierarchy = "received_at"
    fields = [
        "received_at",
        "source",
        "kind",
        "applied",
        "outcome",
        "detail",
        "recipient",
        "subscriber",
        "delivery",
        "status_code",
        "diagnostic",
        "original_message_id",
        "event_id",
    ]
    readonly_fields = fields
