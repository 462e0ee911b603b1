from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from campaigns import extensions, previews
from campaigns.checklist import campaign_checklist
from campaigns.forms import ArticleAdminForm, EditorPreview, FollowUpForm, ScheduleForm, TestSendForm
from campaigns.merge_tags import MergeTagError, available_tags, parse, render_plain
from campaigns.models import Article, Campaign, FrequencyCap
from campaigns.selectors import (
    campaign_article_segment_problems,
    campaign_audience,
    campaign_segment_problems,
    campaign_segment_warnings,
)
from campaigns.services import lifecycle, sending, templates
from campaigns.services.test_send import campaign_send_test
from newsletter_site import permissions

VIEW_SUBSCRIBER = "subscribers.view_subscriber"
FOLLOW_UP = ("campaigns.view_campaign", "campaigns.add_campaign", "audience.add_segment")


def may_follow_up(user) -> bool:
    return permissions.has_staff_permissions(user, *FOLLOW_UP)


STATUS_COLOURS = {
    Campaign.Status.DRAFT: "#6b7280",
    Campaign.Status.SCHEDULED: "#1d4ed8",
    Campaign.Status.SENDING: "#b45309",
    Campaign.Status.PAUSED: "#a16207",
    Campaign.Status.SENT: "#15803d",
    Campaign.Status.CANCELLED: "#b91c1c",
}


class ArticleInline(admin.StackedInline):
    model = Article
    form = ArticleAdminForm
    extra = 0
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    ordering = ["position", "pk"]
    fields = ["position", "headline", "body", "library_image", ("image", "image_url"), "image_alt"]
    fields += [("link_url", "cta_text"), "segment"]
    autocomplete_fields = ["library_image", "segment"]

    def _editable(self, obj):
        return obj is None or obj.is_editable

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


def _editor_context(preview_url: str) -> dict:
    return {"preview_url": preview_url, "merge_tags": available_tags(), "texts": editor_texts()}


def editor_texts() -> dict:
    """The editor's words, translated here: the admin has no JavaScript catalogue."""
    return {
        "bold": gettext("Bold"),
        "italic": gettext("Italic"),
        "link": gettext("Link"),
        "list": gettext("List"),
        "quote": gettext("Quote"),
        "merge_tag": gettext("Insert a merge tag…"),
        "link_text": gettext("link text"),
        "drag": gettext("Drag to reorder"),
        "updating": gettext("Updating…"),
        "failed": gettext("The preview could not be updated."),
    }


def checklist_context(campaign: Campaign, *, confirm_form: str = "") -> dict:
    """The pre-send checklist for ``admin/campaigns/campaign/checklist.html``; ``confirm_form`` names
    the form its "send anyway" checkbox belongs to."""
    items = campaign_checklist(campaign=campaign)
    return {
        "checklist": items,
        "checklist_blocks": any(item.blocks for item in items),
        "checklist_warns": any(not item.blocks for item in items),
        "confirm_form": confirm_form,
    }


def _sendable(campaign: Campaign) -> bool:
    """A newsletter that may still be sent: the pages show its checklist."""
    return campaign.is_editable and not campaign.is_automation and not campaign.is_template


class TemplateFilter(admin.SimpleListFilter):
    """Campaigns and templates are listed apart: campaigns unless templates are asked for."""

    title = _("type")
    parameter_name = "type"
    TEMPLATES, ALL = "templates", "all"

    def lookups(self, request, model_admin):
        return [(self.TEMPLATES, _("Templates")), (self.ALL, _("Campaigns and templates"))]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("Campaigns"),
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() == self.TEMPLATES:
            return queryset.filter(is_template=True)
        if self.value() == self.ALL:
            return queryset
        return queryset.filter(is_template=False)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "subject", "kind", "status_badge", "scheduled_at", "started_at", "finished_at"]
    list_display += ["updated_at"]
    list_filter = [TemplateFilter, "kind", "status", "language", "mailing_lists"]
    search_fields = ["name", "subject"]
    autocomplete_fields = ["mailing_lists", "include_tags", "exclude_tags", "segment", "exclusion_segment"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    inlines = [ArticleInline]
    actions = ["duplicate_action", "schedule_action", "cancel_action"]
    change_form_template = "admin/campaigns/campaign/change_form.html"

    class Media:
        js = ["kanal/editor_dom.js", "campaigns/editor.js"]
        css = {"all": ["campaigns/editor.css"]}

    fieldsets = [
        (None, {"fields": ["name", "kind", "status_badge", "subject", "preheader", "language"]}),
        (_("Sender"), {"fields": ["from_name", "from_email", "reply_to"]}),
        (
            _("Audience"),
            {
                "fields": [
                    "mailing_lists",
                    "segment",
                    "exclusion_segment",
                    "include_tags",
                    "exclude_tags",
                    "min_engagement_score",
                    "bypasses_frequency_cap",
                    "audience_size",
                ]
            },
        ),
        (_("Look"), {"fields": ["brand", "layout", "custom_layout"]}),
        (_("Archive"), {"fields": ["archive_enabled", "archive_link", "sharing_enabled"]}),
        (_("Reader feedback"), {"fields": ["article_feedback_enabled", "mail_survey", "article_feedback_figures"]}),
        (_("Timing"), {"fields": ["scheduled_at", "started_at", "finished_at", "more_settings"]}),
    ]
    ALWAYS_READ_ONLY = ["status_badge", "audience_size", "archive_link", "scheduled_at", "started_at", "finished_at"]
    ALWAYS_READ_ONLY += ["mail_survey", "article_feedback_figures", "more_settings"]

    def save_formset(self, request, form, formset, change):
        if formset.model is Article:
            for article_form in formset.forms:
                if not formset._should_delete_form(article_form):
                    article_form.move_upload_to_library(uploaded_by=request.user)
        super().save_formset(request, form, formset, change)

    def get_fieldsets(self, request, obj=None):
        if obj is not None and (obj.is_automation or obj.is_template):  # no audience of its own
            return [fieldset for fieldset in self.fieldsets if "mailing_lists" not in fieldset[1]["fields"]]
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]
        if obj is not None and obj.status != Campaign.Status.DRAFT:
            return [*self.ALWAYS_READ_ONLY, "kind"]
        return self.ALWAYS_READ_ONLY

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj):
        if obj is None or obj.pk is None:
            return Campaign.Status.DRAFT.label
        return format_html(
            '<span style="background:{};color:#fff;border-radius:4px;padding:2px 8px;white-space:nowrap">{}</span>',
            STATUS_COLOURS.get(obj.status, "#6b7280"),
            obj.get_status_display(),
        )

    @admin.display(description=_("subscribers targeted now"))
    def audience_size(self, obj):
        if obj is None or obj.pk is None:
            return "–"
        problems = campaign_segment_problems(campaign=obj)
        if problems:
            return format_html(
                '<strong style="color:#b91c1c">{}</strong><ul>{}</ul>',
                _("A segment is broken; this campaign cannot be sent:"),
                format_html_join("", "<li>{}</li>", ((problem,) for problem in problems)),
            )
        return campaign_audience(campaign=obj).count()

    @admin.display(description=_("archive page"))
    def archive_link(self, obj):
        url = previews.archive_url(obj) if obj and obj.pk else ""
        if not url:
            return "–"
        return format_html('<a href="{}" target="_blank">{}</a>', url, url)

    @admin.display(description=_("more settings"))
    def more_settings(self, obj):
        if obj is None or obj.pk is None:
            return "–"
        notes = [note for note in (note(obj) for note in extensions.CAMPAIGN_ADMIN_NOTES) if note]
        return format_html_join("", "<div>{}</div>", ((note,) for note in notes)) if notes else "–"

    @admin.display(description=_("survey in the mail"))
    def mail_survey(self, obj):
        blocks = extensions.answer_blocks()
        if blocks is None or obj is None or obj.pk is None:
            return "–"
        return blocks.campaign_survey_summary(obj)

    @admin.display(description=_("“Was this useful?” answers"))
    def article_feedback_figures(self, obj):
        blocks = extensions.answer_blocks()
        if blocks is None or obj is None or obj.pk is None:
            return "–"
        return blocks.campaign_feedback_summary(obj)

    # Extra pages -------------------------------------------------------------------------------

    def get_urls(self):
        def route(suffix, view, *needs, name):
            return permissions.admin_path(self, f"<int:pk>/{suffix}/", view, *needs, name=f"campaigns_campaign_{name}")

        view, change, add = "campaigns.view_campaign", "campaigns.change_campaign", "campaigns.add_campaign"
        return [
            permissions.admin_path(
                self,
                "add/editor-preview/",
                require_POST(self.editor_preview_view),
                add,
                name="campaigns_campaign_add_editor_preview",
            ),
            route("preview", self.preview_view, view, name="preview"),
            route("preview/html", xframe_options_sameorigin(self.preview_html_view), view, name="preview_html"),
            route("editor-preview", require_POST(self.editor_preview_view), change, name="editor_preview"),
            route("send-test", self.send_test_view, change, name="send_test"),
            route("schedule", self.schedule_view, change, name="schedule"),
            route("duplicate", self.duplicate_view, view, "campaigns.add_campaign", name="duplicate"),
            route("save-as-template", self.save_as_template_view, view, add, name="save_as_template"),
            route("use-template", self.use_template_view, view, add, name="use_template"),
            route("cancel", self.cancel_view, change, name="cancel"),
            route("send-now", self.send_now_view, change, name="send_now"),
            route("pause", self.pause_view, change, name="pause"),
            route("resume", self.resume_view, change, name="resume"),
            route("progress", self.progress_view, view, name="progress"),
            route("follow-up", self.follow_up_view, *FOLLOW_UP, name="follow_up"),
            *super().get_urls(),
        ]

    def _preview_recipient(self, request, campaign, *, email: str):
        """Placeholders for anyone; a real subscriber's data only for staff who may view subscribers.

        Returns the recipient, the subscriber shown and the subscriber whose segments decide the
        conditional articles (only one asked for by address; else all are shown, marked)."""
        if email:
            permissions.require(request, VIEW_SUBSCRIBER)
        elif not permissions.has_staff_permissions(request.user, VIEW_SUBSCRIBER):
            return previews.neutral_recipient(campaign), None, None
        recipient, subscriber = previews.preview_recipient(campaign, email=email)
        return recipient, subscriber, previews.chosen_subscriber(subscriber, email=email)

    def _change_url(self, campaign):
        return reverse("admin:campaigns_campaign_change", args=[campaign.pk])

    def preview_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        email = request.GET.get("subscriber", "")
        recipient, subscriber, audience_of = self._preview_recipient(request, campaign, email=email)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": _("Preview: %(name)s") % {"name": campaign.name},
            "subscriber": subscriber,
            "subscriber_email": email,
            "can_personalise": permissions.has_staff_permissions(request.user, VIEW_SUBSCRIBER),
            "has_conditional": campaign.articles.filter(segment__isnull=False).exists(),
            "audience_of": audience_of,
            **(checklist_context(campaign) if _sendable(campaign) else {}),
        }
        try:
            rendered = previews.compile_for_display(campaign, audience_of=audience_of).render(recipient)
        except MergeTagError as error:
            context["error"] = str(error)
        else:
            context["rendered"] = rendered
            context["html_url"] = reverse("admin:campaigns_campaign_preview_html", args=[campaign.pk])
            if email:
                context["html_url"] += "?" + request.GET.urlencode()
        return TemplateResponse(request, "admin/campaigns/campaign/preview.html", context)

    def preview_html_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        email = request.GET.get("subscriber", "")
        recipient, _subscriber, audience_of = self._preview_recipient(request, campaign, email=email)
        try:
            rendered = previews.compile_for_display(campaign, audience_of=audience_of).render(recipient)
        except MergeTagError as error:
            return HttpResponse(str(error), content_type="text/plain; charset=utf-8", status=400)
        return previews.preview_html_response(rendered.html)

    def editor_preview_view(self, request, pk=None):
        """The live preview beside the change form: POST the change form as it is, unsaved; get the
        mail (HTML and text) and the inbox line as JSON. Saves nothing and stores no tracked link.
        Without ``pk`` it previews the add form: a campaign that does not exist yet."""
        campaign = Campaign() if pk is None else get_object_or_404(Campaign, pk=pk)
        recipient, _subscriber, _audience_of = self._preview_recipient(request, campaign, email="")
        editor = EditorPreview(request.POST, campaign=campaign)
        draft, articles = editor.campaign(), editor.articles()
        errors = editor.errors()
        try:
            rendered = previews.compile_for_display(draft, articles=articles).render(recipient)
            preheader = render_plain(parse(draft.preheader), recipient)
        except MergeTagError as error:
            return JsonResponse({"errors": [*errors, str(error)]}, status=400)
        return JsonResponse(
            {
                "subject": rendered.subject,
                "preheader": preheader,
                "from_name": draft.from_name,
                "html": rendered.html,
                "text": rendered.text,
                "errors": errors,
            }
        )

    def send_test_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        form = TestSendForm(request.POST or None, initial={"addresses": request.user.email})
        if not permissions.has_staff_permissions(request.user, VIEW_SUBSCRIBER):
            del form.fields["as_subscriber"]
        if request.method == "POST" and form.is_valid():
            email = form.cleaned_data.get("as_subscriber") or ""
            recipient, _subscriber, audience_of = self._preview_recipient(request, campaign, email=email)
            try:
                sent = campaign_send_test(
                    campaign=campaign,
                    addresses=form.cleaned_data["addresses"],
                    recipient=recipient,
                    audience_of=audience_of,
                )
            except MergeTagError as error:
                form.add_error(None, str(error))
            else:
                text = ngettext("Test sent to %(count)d address.", "Test sent to %(count)d addresses.", sent)
                self.message_user(request, text % {"count": sent}, messages.SUCCESS)
                return HttpResponseRedirect(self._change_url(campaign))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": _("Send a test of %(name)s") % {"name": campaign.name},
            "form": form,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/send_test.html", context)

    def schedule_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        return self._schedule(request, [campaign], cancel_url=self._change_url(campaign))

    def duplicate_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        if request.method != "POST":
            return HttpResponseRedirect(self._change_url(campaign))
        copy = lifecycle.campaign_duplicate(campaign=campaign)
        self.message_user(request, _("Created “%(name)s”.") % {"name": copy.name}, messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(copy))

    def save_as_template_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        if request.method != "POST":
            return HttpResponseRedirect(self._change_url(campaign))
        template = templates.campaign_save_as_template(campaign=campaign)
        self.message_user(request, _("Saved as the template “%(name)s”.") % {"name": template.name}, messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(template))

    def use_template_view(self, request, pk):
        template = get_object_or_404(Campaign, pk=pk)
        if request.method != "POST":
            return HttpResponseRedirect(self._change_url(template))
        try:
            campaign = templates.campaign_from_template(template=template)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(self._change_url(template))
        self.message_user(
            request,
            _("Created “%(name)s” from the template: choose its audience.") % {"name": campaign.name},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(self._change_url(campaign))

    def cancel_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        if request.method == "POST":
            self._cancel(request, [campaign])
        return HttpResponseRedirect(self._change_url(campaign))

    def _transition(self, request, pk, service, done_message):
        campaign = get_object_or_404(Campaign, pk=pk)
        if request.method == "POST":
            try:
                service(campaign=campaign)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                self.message_user(request, done_message % {"name": campaign.name}, messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(campaign))

    def send_now_view(self, request, pk):
        confirmed = request.POST.get("confirm_warnings") == "1"

        def start(*, campaign):
            return sending.campaign_start(campaign=campaign, warnings_confirmed=confirmed)

        return self._transition(request, pk, start, _("Sending “%(name)s” now."))

    def pause_view(self, request, pk):
        return self._transition(request, pk, sending.campaign_pause, _("Paused “%(name)s”."))

    def resume_view(self, request, pk):
        return self._transition(request, pk, sending.campaign_resume, _("Resumed “%(name)s”."))

    def follow_up_view(self, request, pk):
        """Send again to those who did not open or did not click: a draft with its own segment."""
        campaign = get_object_or_404(Campaign, pk=pk)
        form = FollowUpForm(request.POST or None, initial={"reaction": "not_opened", "subject": campaign.subject})
        if request.method == "POST" and form.is_valid():
            try:
                copy = lifecycle.campaign_follow_up(
                    campaign=campaign, reaction=form.cleaned_data["reaction"], subject=form.cleaned_data["subject"]
                )
            except ValidationError as error:
                form.add_error(None, " ".join(error.messages))
            else:
                self.message_user(request, _("Created “%(name)s”.") % {"name": copy.name}, messages.SUCCESS)
                return HttpResponseRedirect(self._change_url(copy))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": _("Send “%(name)s” again") % {"name": campaign.name},
            "form": form,
        }
        return TemplateResponse(request, "admin/campaigns/campaign/follow_up.html", context)

    def progress_view(self, request, pk):
        return JsonResponse(sending.campaign_progress(campaign=get_object_or_404(Campaign, pk=pk)))

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        if obj is None and self.has_add_permission(request):
            context["editor"] = _editor_context(reverse("admin:campaigns_campaign_add_editor_preview"))
        elif obj is not None and obj.is_editable and self.has_change_permission(request, obj):
            context["editor"] = _editor_context(reverse("admin:campaigns_campaign_editor_preview", args=[obj.pk]))
        if obj is not None and obj.status not in Campaign.EDITABLE_STATUSES:
            context["progress"] = sending.campaign_progress(campaign=obj)
        context["can_follow_up"] = may_follow_up(request.user)
        if obj is not None and obj.is_editable:
            # Next to "Send now": what the segments do to this audience, before anything leaves.
            problems = campaign_segment_problems(campaign=obj) + campaign_article_segment_problems(campaign=obj)
            context["segment_notes"] = problems or campaign_segment_warnings(campaign=obj)
            if _sendable(obj):
                may_send = self.has_change_permission(request, obj)
                context.update(checklist_context(obj, confirm_form="campaign-send-now" if may_send else ""))
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    # Changelist actions ------------------------------------------------------------------------

    @admin.action(description=_("Duplicate selected campaigns"), permissions=["add"])
    def duplicate_action(self, request, queryset):
        for campaign in queryset:
            lifecycle.campaign_duplicate(campaign=campaign)
        count = len(queryset)
        text = ngettext("Duplicated %(count)d campaign.", "Duplicated %(count)d campaigns.", count)
        self.message_user(request, text % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Schedule selected campaigns…"), permissions=["change"])
    def schedule_action(self, request, queryset):
        return self._schedule(request, list(queryset), cancel_url=request.get_full_path())

    @admin.action(description=_("Cancel selected campaigns"), permissions=["change"])
    def cancel_action(self, request, queryset):
        self._cancel(request, list(queryset))

    def _cancel(self, request, campaigns):
        for campaign in campaigns:
            try:
                lifecycle.campaign_cancel(campaign=campaign)
            except ValidationError as error:
                self.message_user(request, f"{campaign}: {' '.join(error.messages)}", messages.ERROR)
            else:
                self.message_user(request, _("Cancelled “%(name)s”.") % {"name": campaign.name}, messages.SUCCESS)

    def _schedule(self, request, campaigns, *, cancel_url):
        """The schedule form, for one campaign (its own page) or several (a changelist action)."""
        form = ScheduleForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            failed = False
            for campaign in campaigns:
                try:
                    lifecycle.campaign_schedule(
                        campaign=campaign,
                        scheduled_at=form.cleaned_data["scheduled_at"],
                        warnings_confirmed=form.cleaned_data["confirm_warnings"],
                    )
                except ValidationError as error:
                    failed = True
                    form.add_error(None, f"{campaign}: {' '.join(error.messages)}")
                else:
                    self.message_user(request, _("Scheduled “%(name)s”.") % {"name": campaign.name}, messages.SUCCESS)
            if not failed:
                if len(campaigns) == 1:
                    return HttpResponseRedirect(self._change_url(campaigns[0]))
                return HttpResponseRedirect(reverse("admin:campaigns_campaign_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Schedule campaigns"),
            "form": form,
            "campaigns": campaigns,
            "checklists": [(campaign, checklist_context(campaign)) for campaign in campaigns],
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "cancel_url": cancel_url,
            "time_zone": timezone.get_current_timezone_name(),
        }
        return TemplateResponse(request, "admin/campaigns/campaign/schedule.html", context)


@admin.register(FrequencyCap)
class FrequencyCapAdmin(admin.ModelAdmin):
    list_display = ["period", "max_mails"]
    fields = ["period", "max_mails"]
