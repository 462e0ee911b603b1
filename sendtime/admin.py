from django.contrib import admin
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from newsletter_site.admin_mixins import ReadOnlyAdminMixin
from sendtime import selectors
from sendtime.models import CampaignSendTime, ListSendRules, SendTimeProfile

WEEKDAY_NAMES = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]


class CampaignSendTimeInline(admin.StackedInline):
    """The send-time choice on a newsletter's page (``campaigns.extensions.CAMPAIGN_ADMIN_INLINES``)."""

    model = CampaignSendTime
    fk_name = "campaign"
    extra = 1
    max_num = 1
    can_delete = False
    verbose_name_plural = _("send time per reader")
    fields = [
        "mode",
        "window_hours",
        "window_starts_at",
        "local_time",
        "quiet_from",
        "quiet_until",
        "no_weekend",
        "outcome",
    ]
    readonly_fields = ["outcome"]

    def _editable(self, campaign) -> bool:
        return campaign is None or (campaign.is_editable and not campaign.is_automation and not campaign.is_template)

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    @admin.display(description=_("when sending started"))
    def outcome(self, obj):
        if obj is None or obj.scheduled_at is None:
            return "–"
        lines = [
            (obj._meta.get_field(name).verbose_name, getattr(obj, name))
            for name in ("own_profiles", "list_profiles", "campaign_times", "zone_fallbacks")
        ]
        warning = ""
        if obj.zone_fallbacks:
            warning = format_html(
                '<p style="color:#b45309">{}</p>',
                _("Readers whose time zone is unknown got the time zone of their list, or the site's."),
            )
        items = format_html_join("", "<li>{}: {}</li>", ((str(label), value) for label, value in lines))
        return format_html("<ul>{}</ul>{}", items, warning)


@admin.register(ListSendRules)
class ListSendRulesAdmin(admin.ModelAdmin):
    list_display = ["mailing_list", "quiet_from", "quiet_until", "no_weekend"]
    autocomplete_fields = ["mailing_list"]


class SubscriberSendTimeProfileInline(ReadOnlyAdminMixin, admin.StackedInline):
    """A reader's learned send time on their subscriber page, only while they allow tracking
    (``subscribers.extensions.SUBSCRIBER_ADMIN_INLINES``)."""

    model = SendTimeProfile
    fk_name = "subscriber"
    extra = 0
    fields = ["summary", "updated_at"]
    readonly_fields = fields
    verbose_name_plural = _("send-time profile (learned from human opens, clicks and answers)")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(subscriber__tracking_consent=True)

    @admin.display(description=_("best time"))
    def summary(self, obj):
        summary = selectors.profile_summary(obj)
        if summary["best_hour"] is None:
            return "–"
        weekday = summary["best_weekday"]
        weights = summary["hour_weights"]
        bar = '<span title="{}:00" style="display:inline-block;width:6px;height:{}px;background:#2563eb">'
        hours = format_html_join(
            "", bar + "</span>", ((hour, round(4 + 36 * weight / max(weights))) for hour, weight in enumerate(weights))
        )
        enough = _("enough history") if summary["enough_history"] else _("too little history: the list's time is used")
        return format_html(
            "{}: {}:00, {} ({}; {})<div style='display:flex;align-items:flex-end;height:42px'>{}</div>",
            _("Best hour"),
            summary["best_hour"],
            WEEKDAY_NAMES[weekday] if weekday is not None else "–",
            enough,
            _("weight %(weight)s") % {"weight": summary["total_weight_now"]},
            hours,
        )
