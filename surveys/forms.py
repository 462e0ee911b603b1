from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Field, Layout, Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from subscribers import antispam
from subscribers.forms import HONEYPOT_STYLE
from surveys.models import FREE_TEXT_MAX_LENGTH, Question, Response, Survey

BUTTON_RADIOS = "surveys/fields/button_radios.html"


def field_name(question: Question) -> str:
    return f"q{question.pk}"


def initial_from_response(response: Response | None) -> dict:
    """A SurveyForm's initial values from a stored response (its earlier answers), or {}."""
    if response is None:
        return {}
    initial = {}
    for answer in response.answers.select_related("question").prefetch_related("choices"):
        question = answer.question
        if question.score_range:
            initial[field_name(question)] = str(answer.value)
        elif question.kind == question.Kind.SINGLE_CHOICE:
            initial[field_name(question)] = next((str(c.pk) for c in answer.choices.all()), None)
        elif question.is_choice:
            initial[field_name(question)] = [str(c.pk) for c in answer.choices.all()]
        else:
            initial[field_name(question)] = answer.text
    return initial


class SurveyForm(forms.Form):
    """All questions of a survey; the service does the authoritative validation."""

    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def __init__(self, *args, survey: Survey, **kwargs):
        super().__init__(*args, **kwargs)
        self.survey = survey
        self.questions = list(survey.questions.prefetch_related("choices"))
        layout = []
        for question in self.questions:
            name = field_name(question)
            common = {"label": question.text, "required": question.required}
            if question.score_range:
                low, high = question.score_range
                star = question.kind == Question.Kind.RATING
                self.fields[name] = forms.ChoiceField(
                    choices=[(str(value), f"{value} ★" if star else str(value)) for value in range(low, high + 1)],
                    widget=forms.RadioSelect(attrs={"class": "btn-check"}),
                    **common,
                )
                layout.append(Field(name, template=BUTTON_RADIOS))
            elif question.kind == Question.Kind.SINGLE_CHOICE:
                self.fields[name] = forms.ChoiceField(
                    choices=[(str(choice.pk), choice.text) for choice in question.choices.all()],
                    widget=forms.RadioSelect,
                    **common,
                )
                layout.append(name)
            elif question.kind == Question.Kind.MULTIPLE_CHOICE:
                self.fields[name] = forms.MultipleChoiceField(
                    choices=[(str(choice.pk), choice.text) for choice in question.choices.all()],
                    widget=forms.CheckboxSelectMultiple,
                    **common,
                )
                layout.append(name)
            else:
                self.fields[name] = forms.CharField(
                    max_length=FREE_TEXT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 4}), **common
                )
                layout.append(name)
            if question.kind == Question.Kind.NPS:
                self.fields[name].help_text = _("0 = not at all likely, 10 = extremely likely")
        layout.append(Div("website", aria_hidden="true", style=HONEYPOT_STYLE))
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(*layout)
        self.helper.add_input(Submit("send", _("Send answers"), css_class="btn-primary w-100 mt-2"))

    def answers(self) -> dict:
        """The raw answers by question id, for ``response_submit``."""
        return {question.pk: self.cleaned_data.get(field_name(question)) for question in self.questions}

    @property
    def is_bot(self) -> bool:
        """Filled the honeypot, or sent the form faster than a human can (or without its start time)."""
        if self.data.get("website"):
            return True
        age = antispam.form_age_seconds(self.data.get("started", ""))
        return age is None or age < antispam.min_fill_seconds()
