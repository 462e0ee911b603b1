from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from newsletter_site.admin_mixins import ReadOnlyAdminMixin
from sendtime import selectors
from sendtime.models import CampaignSendTime, ListSendRules, SendTimeProfile

WEEKDAY_NAMES = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]


class CampaignSendTimeForm(forms.ModelForm):
    class Meta:
        model = CampaignSendTime
        fields = [
            "campaign",
            "mode",
            "window_hours",
            "window_starts_at",
            "local_time",
            "quiet_from",
            "quiet_until",
            "no_weekend",
        ]

    def clean_campaign(self):
        campaign = self.cleaned_data["campaign"]
        if campaign.is_automation or campaign.is_template:
            raise ValidationError(_("Only a newsletter has a send time; automations send each mail when it is due."))
        if campaign.status not in Campaign.EDITABLE_STATUSES:
            raise ValidationError(_("This campaign is sending or sent; its send time can no longer change."))
        return campaign


@admin.register(CampaignSendTime)
class CampaignSendTimeAdmin(admin.ModelAdmin):
    """A newsletter's send time, reached from its campaign page (``campaigns.extensions.CAMPAIGN_ADMIN_NOTES``)."""

    form = CampaignSendTimeForm
    list_display = ["campaign", "mode", "window_hours", "local_time", "zone_fallbacks"]
    list_filter = ["mode"]
    autocomplete_fields = ["campaign"]
    readonly_fields = ["outcome"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.campaign.status not in Campaign.EDITABLE_STATUSES:
            return [*CampaignSendTimeForm.Meta.fields, "outcome"]
        return self.readonly_fields

    def get_changeform_initial_data(self, request):
        return {"campaign": request.GET.get("campaign")}

    @admin.display(description=_("when sending started"))
    def outcome(self, obj):
        return campaign_send_time_outcome(obj)


def campaign_send_time_outcome(option: CampaignSendTime):
    if option is None or option.scheduled_at is None:
        return "–"
    lines = [
        (option._meta.get_field(name).verbose_name, getattr(option, name))
        for name in ("own_profiles", "list_profiles", "campaign_times", "zone_fallbacks")
    ]
    warning = ""
    if option.zone_fallbacks:
        warning = format_html(
            '<p style="color:#b45309">{}</p>',
            _("Readers whose time zone is unknown got the time zone of their list, or the site's."),
        )
    items = format_html_join("", "<li>{}: {}</li>", ((str(label), value) for label, value in lines))
    return format_html("<ul>{}</ul>{}", items, warning)


def campaign_send_time_note(campaign: Campaign):
    """The campaign page's line about its send time, with a link to set or change it."""
    if campaign.is_automation or campaign.is_template:
        return None
    option = CampaignSendTime.objects.filter(campaign=campaign).first()
    if option is None:
        url = reverse("admin:sendtime_campaignsendtime_add") + "?" + urlencode({"campaign": campaign.pk})
        return format_html(
            '{}: {} <a href="{}">{}</a>',
            _("Send time"),
            CampaignSendTime.Mode.AT_ONCE.label,
            url,
            _("Choose a send time per reader"),
        )
    url = reverse("admin:sendtime_campaignsendtime_change", args=[option.pk])
    return format_html(
        '{}: {} <a href="{}">{}</a>{}',
        _("Send time"),
        option.get_mode_display(),
        url,
        _("Change") if campaign.status in Campaign.EDITABLE_STATUSES else _("Details"),
        campaign_send_time_outcome(option) if option.scheduled_at else "",
    )


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
