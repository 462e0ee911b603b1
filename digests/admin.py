from django.contrib import admin, messages
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from digests import tasks
from digests.models import Digest, FeedSource
from newsletter_site.admin_mixins import ReadOnlyAdminMixin

# Outcomes that need staff's attention, shown in red.
PROBLEMS = {
    FeedSource.FetchStatus.BAD_URL,
    FeedSource.FetchStatus.PRIVATE_ADDRESS,
    FeedSource.FetchStatus.TIMEOUT,
    FeedSource.FetchStatus.TOO_BIG,
    FeedSource.FetchStatus.HTTP_ERROR,
    FeedSource.FetchStatus.NOT_A_FEED,
    FeedSource.FetchStatus.ERROR,
    FeedSource.FetchStatus.HELD,
}


class DigestInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Digest
    fields = ["created_at", "campaign_link", "item_titles"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    verbose_name_plural = _("digests made")

    def has_view_permission(self, request, obj=None):
        # Part of the source: whoever may see the source sees what it made (the campaign's own
        # page still asks for the campaign permission).
        return request.user.has_perm("digests.view_feedsource") or request.user.has_perm("digests.change_feedsource")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("campaign").prefetch_related("items")

    @admin.display(description=_("campaign"))
    def campaign_link(self, digest):
        if digest.campaign is None:
            return _("(deleted)")
        url = reverse("admin:campaigns_campaign_change", args=[digest.campaign.pk])
        return format_html('<a href="{}">{}</a> ({})', url, digest.campaign, digest.campaign.get_status_display())

    @admin.display(description=_("items"))
    def item_titles(self, digest):
        return "; ".join(item.title or item.guid for item in digest.items.all())


@admin.register(FeedSource)
class FeedSourceAdmin(admin.ModelAdmin):
    list_display = ["name", "mailing_list", "schedule", "mode", "is_active", "fetch_outcome", "last_fetched_at"]
    list_filter = ["is_active", "mode", "last_status", "mailing_list"]
    search_fields = ["name", "url"]
    actions = ["fetch_now"]
    inlines = [DigestInline]
    readonly_fields = ["fetch_outcome", "last_fetched_at", "last_slot_at"]
    fieldsets = [
        (None, {"fields": ["name", "mailing_list", "url", "is_active"]}),
        (_("Schedule"), {"fields": ["frequency", "weekday", "time_of_day"]}),
        (_("Digest"), {"fields": ["subject", "mode", "max_items", "archive_enabled"]}),
        (_("Last fetch"), {"fields": ["fetch_outcome", "last_fetched_at", "last_slot_at"]}),
    ]

    @admin.display(description=_("schedule"))
    def schedule(self, source):
        time = source.time_of_day.strftime("%H:%M")
        if source.frequency == FeedSource.Frequency.WEEKLY:
            return _("weekly, %(weekday)s at %(time)s") % {"weekday": source.get_weekday_display(), "time": time}
        return _("daily at %(time)s") % {"time": time}

    @admin.display(description=_("last fetch"), ordering="last_status")
    def fetch_outcome(self, source):
        if source.last_status in PROBLEMS:
            return format_html(
                '<strong style="color: var(--error-fg, #ba2121)" data-fetch-status="{}">{}</strong><br>{}',
                source.last_status,
                source.get_last_status_display(),
                source.last_error,
            )
        return format_html(
            '<span data-fetch-status="{}">{}</span>', source.last_status, source.get_last_status_display()
        )

    @admin.action(description=_("Fetch the selected feeds now"), permissions=["change"])
    def fetch_now(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for source_id in ids:
            transaction.on_commit(lambda source_id=source_id: tasks.fetch_source.delay(source_id))
        messages.success(
            request,
            ngettext(
                "%(count)d feed is being fetched; reload this page in a moment to see the outcome.",
                "%(count)d feeds are being fetched; reload this page in a moment to see the outcome.",
                len(ids),
            )
            % {"count": len(ids)},
        )
