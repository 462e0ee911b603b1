"""Forms of the automation admin beyond the change form: moving running journeys to a newer version."""

from django import forms
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from automations import kinds
from automations.models import AutomationVersion

STAY = ""


class JourneysMoveForm(forms.Form):
    """One select per step of the old version: where its waiting journeys go in the new one."""

    def __init__(
        self, *args, from_version: AutomationVersion, to_version: AutomationVersion, initial_map, waiting, **kw
    ):
        super().__init__(*args, **kw)
        targets = [(STAY, gettext("stay in version %(number)s") % {"number": from_version.number})]
        targets += [
            (str(index), gettext("step %(number)s: %(step)s") % {"number": index, "step": kinds.step_describe(step)})
            for index, step in enumerate(to_version.steps)
        ]
        targets.append((str(len(to_version.steps)), gettext("the end (the journey finishes)")))
        for index, step in enumerate(from_version.steps):
            count = waiting.get(index, 0)
            self.fields[f"step_{index}"] = forms.ChoiceField(
                label=gettext("Step %(number)s: %(step)s") % {"number": index, "step": kinds.step_describe(step)},
                choices=targets,
                required=False,
                initial=str(initial_map[index]) if index in initial_map else STAY,
                help_text=ngettext("%(count)s journey waits here.", "%(count)s journeys wait here.", count)
                % {"count": count},
            )

    def step_map(self) -> dict[int, int]:
        return {
            int(name.removeprefix("step_")): int(value)
            for name, value in self.cleaned_data.items()
            if name.startswith("step_") and value != STAY
        }


class VersionChoiceForm(forms.Form):
    version = forms.TypedChoiceField(label=_("move journeys from version"), coerce=int)

    def __init__(self, *args, versions, **kw):
        super().__init__(*args, **kw)
        self.fields["version"].choices = [
            (version.number, gettext("version %(number)s") % {"number": version.number}) for version in versions
        ]
