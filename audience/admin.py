import json

from django import forms
from django.contrib import admin
from django.http import JsonResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audience import conditions
from audience.models import Segment
from audience.rules import empty_rules
from audience.selectors import segment_count, segment_preview, segment_problems
from newsletter_site import permissions

VIEW_SEGMENT, VIEW_SUBSCRIBER = "audience.view_segment", "subscribers.view_subscriber"


def editor_texts() -> dict:
    """The editor's words, translated here: the admin has no JavaScript catalogue."""
    return {
        "and": gettext("all of these are true"),
        "or": gettext("any of these is true"),
        "not": gettext("this is not true"),
        "add_condition": gettext("+ condition"),
        "add_group": gettext("+ group"),
        "remove": gettext("remove"),
        "choose_kind": gettext("choose a condition…"),
        "any": gettext("(any)"),
        "consent_note": gettext(
            "Decided only for subscribers who agreed to tracking; for the others this condition is unknown."
        ),
        "count": gettext("Matching subscribers"),
        "left_out": gettext("Left out because they did not agree to tracking"),
        "everyone": gettext("This segment matches every subscriber: it filters nothing."),
        "problems": gettext("Problems"),
        "sample": gettext("Sample"),
        "counting": gettext("counting…"),
        "failed": gettext("The count could not be loaded."),
    }


class SegmentForm(forms.ModelForm):
    rules = forms.JSONField(
        label=_("rules"),
        initial=empty_rules,
        widget=forms.Textarea(attrs={"rows": 10, "cols": 100, "data-segment-rules": ""}),
        help_text=_(
            "Groups of conditions joined by AND, OR or NOT. Conditions on opens, clicks and answers "
            "only judge subscribers who agreed to tracking, and count only people's events unless told otherwise."
        ),
    )

    class Meta:
        model = Segment
        fields = ["name", "description", "rules"]


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    list_display = ["name", "state", "used_by", "updated_at"]
    search_fields = ["name", "description"]
    readonly_fields = ["state", "figures"]
    fields = ["name", "description", "rules", "state", "figures"]
    change_form_template = "admin/audience/segment/change_form.html"

    class Media:
        js = ["kanal/editor_dom.js", "audience/segment_editor.js"]
        css = {"all": ["audience/segment_editor.css"]}

    @admin.display(description=_("state"))
    def state(self, obj):
        problems = segment_problems(obj) if obj and obj.pk else []
        if not problems:
            return gettext("usable")
        return format_html(
            '<strong style="color:#b91c1c">{}</strong><ul>{}</ul>',
            gettext("broken: cannot be used for sending"),
            format_html_join("", "<li>{}</li>", ((problem,) for problem in problems)),
        )

    @admin.display(description=_("campaigns"))
    def used_by(self, obj):
        # Conditional articles count once per campaign (Article.segment, related name "articles").
        with_articles = obj.articles.values("campaign").distinct().count()
        return obj.campaigns.count() + obj.campaigns_excluding.count() + with_articles

    @admin.display(description=_("subscribers now"))
    def figures(self, obj):
        if obj is None or obj.pk is None or segment_problems(obj):
            return "–"
        found = segment_count(obj)
        return gettext("%(count)d of %(total)d; %(left_out)d left out for lack of tracking consent") % {
            "count": found["count"],
            "total": found["total"],
            "left_out": found["left_out_for_consent"],
        }

    def get_urls(self):
        preview = permissions.admin_path(
            self, "preview/", self.preview_view, VIEW_SEGMENT, VIEW_SUBSCRIBER, name="audience_segment_preview"
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request):
        """The live count: POST ``{"rules": …}`` (or GET ``?rules=…``); figures, problems and a sample."""
        try:
            if request.method == "POST":
                rules = json.loads(request.body or b"{}").get("rules", empty_rules())
            else:
                rules = json.loads(request.GET.get("rules") or "null") or empty_rules()
        except (ValueError, AttributeError):
            return JsonResponse({"problems": [gettext("The rules are not valid JSON.")]}, status=400)
        return JsonResponse(segment_preview(rules))

    def render_change_form(self, request, context, *args, **kwargs):
        context["segment_kinds"] = conditions.kinds_schema()
        context["segment_texts"] = editor_texts()
        context["can_preview"] = permissions.has_staff_permissions(request.user, VIEW_SEGMENT, VIEW_SUBSCRIBER)
        return super().render_change_form(request, context, *args, **kwargs)
