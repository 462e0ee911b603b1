"""Read-only views of tracked links and events for staff. User agents and URLs come from the
outside world: they are shown only through Django's escaping (no format_html with raw values,
no mark_safe)."""

from django.contrib import admin
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from newsletter_site.admin_mixins import ReadOnlyAdminMixin
from tracking.models import DeliveryReport, Event, TrackedLink


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


@admin.register(TrackedLink)
class TrackedLinkAdmin(ReadOnlyAdmin):
    list_display = ["campaign", "article", "position", "kind", "short_url"]
    list_filter = ["kind"]
    list_select_related = ["campaign", "article"]
    search_fields = ["url", "campaign__name"]

    @admin.display(description=_("target URL"))
    def short_url(self, obj):
        return Truncator(obj.url).chars(80)


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "kind", "campaign", "link_url", "is_machine", "machine_reason", "short_user_agent"]
    list_filter = ["kind", "is_machine", "machine_reason"]
    list_select_related = ["campaign", "link"]
    date_hierarchy = "occurred_at"
    # No delivery or address here: who opened what is not staff's business in a list.
    exclude = ["ip_hash"]
    show_full_result_count = False

    @admin.display(description=_("link"))
    def link_url(self, obj):
        return Truncator(obj.link.url).chars(60) if obj.link else ""

    @admin.display(description=_("user agent"))
    def short_user_agent(self, obj):
        return Truncator(obj.user_agent).chars(60)


@admin.register(DeliveryReport)
class DeliveryReportAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "kind", "campaign", "esp_name"]
    list_filter = ["kind", "esp_name"]
    list_select_related = ["campaign"]
