from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from automations import kinds, selectors, services
from automations.models import Automation, Journey


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

    def clean_steps(self):
        return kinds.steps_clean(self.cleaned_data["steps"])

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
                raise ValidationError(problems)
        return cleaned


@admin.register(Automation)
class AutomationAdmin(admin.ModelAdmin):
    form = AutomationForm
    list_display = ["name", "status", "trigger_kind", "reentry", "updated_at"]
    list_filter = ["status"]
    search_fields = ["name"]
    readonly_fields = ["status", "state", "outline"]
    fields = ["name", "status", "state", "trigger_kind", "trigger_params", "entry_segment", "reentry", "steps"]
    fields += ["outline"]
    actions = ["activate", "pause"]

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
        headings = [
            gettext("step"),
            gettext("reached"),
            gettext("waiting here"),
            gettext("exited here"),
            gettext("sent"),
            gettext("opened"),
            gettext("clicked"),
            gettext("answered"),
        ]
        columns = ("entered", "waiting", "exited", *selectors.MAIL_FIGURES)
        return format_html(
            "<table><thead><tr><th>#</th>{}</tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<th>{}</th>", ((heading,) for heading in headings)),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td>{}</tr>",
                (
                    (
                        row["index"],
                        _step_label(row["step"]),
                        format_html_join(
                            "",
                            "<td>{}</td>",
                            (("–" if row[column] is None else row[column],) for column in columns),
                        ),
                    )
                    for row in rows
                ),
            ),
        )

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
        for automation in queryset:
            services.automation_pause(automation=automation)
        self.message_user(request, gettext("Paused."))


def _step_label(step: dict) -> str:
    kind = kinds.STEPS.get(step.get("kind"))
    params = ", ".join(f"{key}={value}" for key, value in step.items() if key != "kind")
    return f"{kind.label if kind else step.get('kind')} ({params})" if params else str(kind.label if kind else "?")


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
