from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from automations import editor, kinds, mail, selectors, services
from automations.forms import JourneysMoveForm, VersionChoiceForm
from automations.models import Automation, Journey
from newsletter_site import permissions


class AutomationForm(forms.ModelForm):
    trigger_kind = forms.ChoiceField(label=_("trigger"), choices=())

    class Meta:
        model = Automation
        fields = ["name", "trigger_kind", "trigger_params", "entry_segment", "reentry", "steps"]
        help_texts = {
            "steps": _(
                'A JSON list, e.g. [{"kind": "tag_add", "tag": 3}, {"kind": "wait", "days": 2}, '
                '{"kind": "branch", "segment": 5, "goto": 4}, {"kind": "exit"}]. Step kinds: %(kinds)s.'
            ),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trigger_kind"].choices = [(kind.key, kind.label) for kind in kinds.TRIGGERS.values()]
        self.fields["steps"].help_text = self.fields["steps"].help_text % {"kinds": ", ".join(kinds.STEPS)}
        self.fields["trigger_kind"].widget.attrs["data-automation-trigger-kind"] = ""
        self.fields["trigger_params"].widget.attrs["data-automation-trigger-params"] = ""
        self.fields["steps"].widget.attrs["data-automation-steps"] = ""
        # Messages by step index for the editor, which shows each under its step.
        self.step_errors: dict[int, list[str]] = {}

    def clean_steps(self):
        cleaned, self.step_errors = kinds.steps_errors(self.cleaned_data["steps"])
        if self.step_errors:
            kinds.steps_clean(self.cleaned_data["steps"])
        return cleaned

    def clean(self):
        cleaned = super().clean()
        if "trigger_kind" in cleaned:
            try:
                cleaned["trigger_params"] = kinds.trigger_clean(cleaned["trigger_kind"], cleaned.get("trigger_params"))
            except ValidationError as error:
                self.add_error("trigger_params", error)
        if self.instance.pk and self.instance.status == Automation.Status.ACTIVE and not self.errors:
            fields = ["name", "trigger_kind", "trigger_params", "entry_segment", "reentry", "steps"]
            edited = Automation(pk=self.instance.pk, **{field: cleaned.get(field) for field in fields})
            problems = services.automation_problems(automation=edited)
            if problems:
                self.step_errors = kinds.steps_problems_by_step(edited.steps)
                raise ValidationError(problems)
        return cleaned


class StatusFilter(admin.SimpleListFilter):
    """The status filter, whose default leaves archived automations out."""

    title = _("status")
    parameter_name = "status"
    EVERY = "every"

    def lookups(self, request, model_admin):
        return [(self.EVERY, _("all, archived included")), *Automation.Status.choices]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": _("all but archived"),
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset.exclude(status=Automation.Status.ARCHIVED)
        if self.value() == self.EVERY:
            return queryset
        return queryset.filter(status=self.value())


@admin.register(Automation)
class AutomationAdmin(admin.ModelAdmin):
    form = AutomationForm
    list_display = ["name", "status", "trigger_kind", "reentry", "updated_at"]
    list_filter = [StatusFilter]
    search_fields = ["name"]
    readonly_fields = ["status", "state", "outline"]
    fields = ["name", "status", "state", "trigger_kind", "trigger_params", "entry_segment", "reentry", "steps"]
    fields += ["outline"]
    actions = ["activate", "pause", "archive", "unarchive"]
    change_form_template = "admin/automations/automation/change_form.html"

    class Media:
        js = ["kanal/editor_dom.js", "automations/step_editor.js"]
        css = {"all": ["automations/step_editor.css"]}

    def render_change_form(self, request, context, *args, **kwargs):
        context["automation_editor"] = editor.editor_schema()
        context["automation_texts"] = editor.editor_texts()
        form = context["adminform"].form
        context["automation_step_errors"] = {str(index): errors for index, errors in form.step_errors.items()}
        return super().render_change_form(request, context, *args, **kwargs)

    def save_model(self, request, obj, form, change):
        services.automation_save(automation=obj)

    @admin.display(description=_("state"))
    def state(self, obj):
        problems = services.automation_problems(automation=obj) if obj and obj.pk else []
        if not problems:
            return gettext("can be activated")
        return format_html(
            '<strong style="color:#b91c1c">{}</strong><ul>{}</ul>',
            gettext("cannot be activated"),
            format_html_join("", "<li>{}</li>", ((problem,) for problem in problems)),
        )

    @admin.display(description=_("outline"))
    def outline(self, obj):
        if obj is None or obj.pk is None:
            return "–"
        rows = selectors.automation_outline(automation=obj)
        if not rows:
            return "–"
        targets = {row["step"].get("goto") for row in rows if row["step"].get("kind") in BRANCH_KINDS}
        older = format_html_join(
            "",
            '<p class="help" data-older-version="{}">{}</p>',
            (
                (
                    number,
                    ngettext(
                        "Version %(number)s: %(count)s journey still runs there (its figures are not shown here).",
                        "Version %(number)s: %(count)s journeys still run there (their figures are not shown here).",
                        count,
                    )
                    % {"number": number, "count": count},
                )
                for number, count in selectors.older_versions_running(automation=obj)
            ),
        )
        return format_html(
            '<ol class="automation-outline" data-outline>{}<li id="outline-step-{}" class="{}">{}</li></ol>{}',
            format_html_join("", "{}", ((_outline_item(row, len(rows), targets),) for row in rows)),
            len(rows),
            "automation-target" if len(rows) in targets else "",
            gettext("End"),
            older,
        )

    def get_urls(self):
        move = permissions.admin_path(
            self,
            "<int:pk>/move-journeys/",
            self.move_journeys_view,
            "automations.change_automation",
            name="automations_automation_move_journeys",
        )
        return [move, *super().get_urls()]

    def move_journeys_view(self, request, pk):
        """Pick an older version, a new step for each of its steps, preview the counts, then move (POST)."""
        automation = get_object_or_404(Automation, pk=pk)
        change_url = reverse("admin:automations_automation_change", args=[automation.pk])
        versions = list(automation.versions.order_by("-number"))
        if len(versions) < 2:
            self.message_user(request, gettext("There is no older version to move journeys from."), messages.WARNING)
            return HttpResponseRedirect(change_url)
        to_version, older = versions[0], versions[1:]
        data = request.POST if request.method == "POST" else request.GET
        version_form = VersionChoiceForm(data if "version" in data else None, versions=older)
        from_version = older[0]
        if version_form.is_bound and version_form.is_valid():
            from_version = next(v for v in older if v.number == version_form.cleaned_data["version"])
        elif not version_form.is_bound:
            version_form = VersionChoiceForm(initial={"version": from_version.number}, versions=older)
        waiting = selectors.journeys_at_steps(automation=automation, version=from_version)
        form = JourneysMoveForm(
            request.POST if request.method == "POST" else None,
            from_version=from_version,
            to_version=to_version,
            initial_map=selectors.journeys_move_default_map(from_version=from_version, to_version=to_version),
            waiting=waiting,
        )
        preview = None
        if request.method == "POST" and form.is_valid():
            step_map = form.step_map()
            if "confirm" in request.POST:
                try:
                    moved = services.journeys_move(
                        automation=automation, from_version=from_version, to_version=to_version, step_map=step_map
                    )
                except ValidationError as error:
                    form.add_error(None, error)
                else:
                    text = ngettext("%(count)d journey moved.", "%(count)d journeys moved.", moved)
                    self.message_user(request, text % {"count": moved}, messages.SUCCESS)
                    return HttpResponseRedirect(change_url)
            preview = sum(waiting.get(index, 0) for index in step_map)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": automation,
            "title": gettext("Move journeys of %(name)s") % {"name": automation.name},
            "version_form": version_form,
            "form": form,
            "from_version": from_version,
            "to_version": to_version,
            "preview": preview,
        }
        return TemplateResponse(request, "admin/automations/automation/move_journeys.html", context)

    @admin.action(description=_("Activate the selected automations"), permissions=["change"])
    def activate(self, request, queryset):
        for automation in queryset:
            try:
                services.automation_activate(automation=automation)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                self.message_user(request, gettext("“%(name)s” is active.") % {"name": automation.name})

    @admin.action(description=_("Pause the selected automations"), permissions=["change"])
    def pause(self, request, queryset):
        paused = 0
        for automation in queryset:
            try:
                services.automation_pause(automation=automation)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                paused += 1
        if paused:
            self.message_user(request, gettext("Paused."))

    @admin.action(description=_("Archive the selected automations"), permissions=["change"])
    def archive(self, request, queryset):
        for automation in queryset:
            ended = services.automation_archive(automation=automation)
            text = ngettext(
                "“%(name)s” is archived; %(count)d journey ended.",
                "“%(name)s” is archived; %(count)d journeys ended.",
                ended,
            )
            self.message_user(request, text % {"name": automation.name, "count": ended})

    @admin.action(description=_("Un-archive the selected automations (as drafts)"), permissions=["change"])
    def unarchive(self, request, queryset):
        for automation in queryset.filter(status=Automation.Status.ARCHIVED):
            services.automation_unarchive(automation=automation)
            self.message_user(request, gettext("“%(name)s” is a draft again.") % {"name": automation.name})


FIGURE_LABELS = {
    "entered": _("reached"),
    "waiting": _("waiting here"),
    "exited": _("exited here"),
    "sent": _("sent"),
    "opened": _("opened"),
    "clicked": _("clicked"),
    "answered": _("answered"),
    "capped": _("held back by the frequency cap"),
}


BRANCH_KINDS = ("branch", mail.BRANCH_MAIL)


def _outline_item(row: dict, count: int, targets: set) -> str:
    """One step of the outline: its number, what it does, its figures, and for a branch where it leads."""
    index, step = row["index"], row["step"]
    figures = format_html_join(
        " · ",
        '{}: <span data-figure="{}">{}</span>',
        (
            (FIGURE_LABELS.get(key, key), key, value)
            for key, value in row.items()
            if key not in ("index", "step") and value is not None
        ),
    )
    branch = ""
    if step.get("kind") in BRANCH_KINDS:
        goto = step.get("goto")
        target = gettext("the end") if goto == count else gettext("step %(number)s") % {"number": goto}
        if step["kind"] == "branch":
            taken = gettext("member: go to %(target)s") % {"target": target}
        else:
            event = FIGURE_LABELS.get(step.get("event"), step.get("event"))
            taken = gettext("%(event)s by a person: go to %(target)s") % {"event": event, "target": target}
        branch = format_html(
            '<div class="automation-branch">↳ {}</div><div class="automation-branch">↓ {}</div>',
            taken,
            gettext("otherwise: the next step"),
        )
    return format_html(
        '<li id="outline-step-{}" class="{}" data-outline-step="{}"><strong>{}.</strong> {}{}'
        '<div class="automation-figures">{}</div></li>',
        index,
        "automation-target" if index in targets else "",
        index,
        index,
        kinds.step_describe(step),
        branch,
        figures,
    )


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ["subscriber", "automation", "version", "status", "step_index", "due_at", "entered_at"]
    list_filter = ["status", "automation"]
    list_select_related = ["subscriber", "automation", "version"]
    search_fields = ["subscriber__email"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
