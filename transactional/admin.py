from django.contrib import admin
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.clickjacking import xframe_options_sameorigin

from campaigns.previews import preview_html_response
from newsletter_site import permissions
from newsletter_site.admin_mixins import ReadOnlyAdminMixin
from transactional import selectors
from transactional.models import TransactionalMessage, TransactionalTemplate
from transactional.rendering import template_preview


@admin.register(TransactionalTemplate)
class TransactionalTemplateAdmin(admin.ModelAdmin):
    """Authoring, a preview with placeholders for the request's values, and the figures per template."""

    list_display = [
        "name",
        "slug",
        "language",
        "is_service_mail",
        "sent_count",
        "failed_count",
        "suppressed_count",
        "waiting_count",
        "tracked_count",
        "human_opens",
        "human_clicks",
    ]
    list_filter = ["language", "is_service_mail", "track_opens_clicks"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["preview", "tracking_figures"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "language", "is_service_mail", "track_opens_clicks"]}),
        (_("Figures"), {"fields": ["tracking_figures"]}),
        (_("Content"), {"fields": ["subject", "preheader", "headline", "body", "link_url", "cta_text"]}),
        (_("Sender and look"), {"fields": ["from_name", "from_email", "reply_to", "brand", "layout"]}),
        (_("Preview"), {"fields": ["preview"]}),
    ]

    def get_queryset(self, request):
        return selectors.template_figures()

    @admin.display(description=_("sent"), ordering="sent_count")
    def sent_count(self, obj):
        return obj.sent_count

    @admin.display(description=_("failed"), ordering="failed_count")
    def failed_count(self, obj):
        return obj.failed_count

    @admin.display(description=_("not sent (suppressed)"), ordering="suppressed_count")
    def suppressed_count(self, obj):
        return obj.suppressed_count

    @admin.display(description=_("queued or sending"))
    def waiting_count(self, obj):
        return obj.queued_count + obj.sending_count

    @admin.display(description=_("sent tracked"), ordering="tracked_count")
    def tracked_count(self, obj):
        return obj.tracked_count

    @admin.display(description=_("unique opens (people)"), ordering="human_opens")
    def human_opens(self, obj):
        return obj.human_opens

    @admin.display(description=_("unique clicks (people)"), ordering="human_clicks")
    def human_clicks(self, obj):
        return obj.human_clicks

    @admin.display(description=_("figures"))
    def tracking_figures(self, obj):
        if obj is None or obj.pk is None:
            return _("No mail sent yet.")
        return format_html(
            '<table class="transactional-figures"><tbody>'
            "<tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr>"
            "<tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr>"
            '</tbody></table><p class="help">{}</p>',
            _("sent"),
            obj.sent_count,
            _("sent tracked"),
            obj.tracked_count,
            _("unique opens (people)"),
            obj.human_opens,
            _("unique clicks (people)"),
            obj.human_clicks,
            _(
                "Each mail counts once. Opens and clicks of machines (mail scanners, image proxies, clicks "
                "seconds after sending) never count; only subscribers who agreed to tracking are tracked."
            ),
        )

    @admin.display(description=_("preview"))
    def preview(self, obj):
        if obj is None or obj.pk is None:
            return _("Save the template to see its preview.")
        url = reverse("admin:transactional_transactionaltemplate_preview", args=[obj.pk])
        return format_html(
            '<iframe src="{}" title="{}" style="width:100%;max-width:680px;height:640px;border:1px solid #ccc;">'
            "</iframe>",
            url,
            _("Preview"),
        )

    def get_urls(self):
        return [
            permissions.admin_path(
                self,
                "<int:pk>/preview/",
                xframe_options_sameorigin(self.preview_view),
                "transactional.view_transactionaltemplate",
                name="transactional_transactionaltemplate_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request, pk):
        return preview_html_response(template_preview(get_object_or_404(TransactionalTemplate, pk=pk)).html)


@admin.register(TransactionalMessage)
class TransactionalMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The log of mails sent through the API; staff read it, nobody edits it."""

    list_display = ["created_at", "template", "email", "status", "attempts", "sent_at"]
    list_filter = ["status", "template"]
    search_fields = ["email", "=public_id"]
    list_select_related = ["template"]
    exclude = ["claim", "claimed_at"]
