from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Layout, Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from subscribers import antispam, field_values
from subscribers.models import CustomField, normalise_email

# Off-screen rather than display:none, which some bots recognise and skip.
HONEYPOT_STYLE = "position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden"

ALTCHA_WIDGET = HTML(
    '{% if altcha_challenge_url %}<div class="mb-3">'
    '<altcha-widget name="altcha" challenge="{{ altcha_challenge_url }}"></altcha-widget></div>{% endif %}'
)


CUSTOM_PREFIX = "field_"


class CustomValueField(forms.Field):
    """A form field for one CustomField; the value is checked by ``CustomField.clean_value``."""

    def __init__(self, *, custom_field: CustomField, language: str, **kwargs):
        self.custom_field = custom_field
        kwargs.setdefault("label", custom_field.label(language))
        kwargs.setdefault("help_text", custom_field.help_text(language))
        kwargs.setdefault("widget", _widget(custom_field, language))
        super().__init__(**kwargs)

    def clean(self, value):
        if field_values.is_empty(value):
            if self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
            return None
        return self.custom_field.clean_value(value)

    def prepare_value(self, value):
        if isinstance(value, bool):
            return "true" if value else "false"
        return value


def _widget(custom_field: CustomField, language: str) -> forms.Widget:
    kind = custom_field.kind
    if kind == CustomField.Kind.NUMBER:
        return forms.TextInput(attrs={"inputmode": "decimal"})
    if kind == CustomField.Kind.DATE:
        return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    if kind == CustomField.Kind.BOOLEAN:
        return forms.Select(choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))])
    if kind == CustomField.Kind.CHOICE:
        return forms.Select(choices=[("", "—"), *custom_field.option_choices(language)])
    if kind == CustomField.Kind.MULTIPLE_CHOICE:
        return forms.CheckboxSelectMultiple(choices=custom_field.option_choices(language))
    return forms.TextInput(attrs={"maxlength": field_values.TEXT_MAX_LENGTH})


def custom_form_fields(custom_fields, *, language: str, required: bool | None = None) -> dict[str, CustomValueField]:
    """Form fields for ``custom_fields``, labelled in ``language``; ``required`` overrides the fields' own setting."""
    return {
        CUSTOM_PREFIX + field.key: CustomValueField(
            custom_field=field, language=language, required=field.required if required is None else required
        )
        for field in custom_fields
    }


def custom_values(form: forms.Form) -> dict:
    """{key: typed value or None} of the custom fields of a valid form."""
    return {
        name.removeprefix(CUSTOM_PREFIX): value
        for name, value in form.cleaned_data.items()
        if isinstance(form.fields.get(name), CustomValueField)
    }


class SubscribeForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    # Humans never see this field (off-screen, hidden from screen readers, skipped by Tab); bots that fill
    # every input do.
    website = forms.CharField(
        label=_("Leave this field empty"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )
    consent = forms.BooleanField(label="", required=True)

    def __init__(
        self,
        *args,
        consent_text: str,
        language: str,
        altcha_required: bool = False,
        check_fill_time=True,
        custom_fields=(),
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        extra = custom_form_fields(custom_fields, language=language)
        self.fields.update(extra)
        self.fields["consent"].label = consent_text
        self.fields["consent"].error_messages["required"] = _("Please agree so that we may send you the newsletter.")
        self.language = language
        self.altcha_required = altcha_required
        # The embeddable snippet is static HTML and cannot carry a signed start time.
        self.check_fill_time = check_fill_time
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            "email",
            "first_name",
            *extra,
            Div("website", aria_hidden="true", style=HONEYPOT_STYLE),
            "consent",
            ALTCHA_WIDGET,
        )
        # Its own id per form (the fields' ``auto_id``), for pages that show several lists' forms.
        submit_id = self.auto_id % "subscribe" if isinstance(self.auto_id, str) and "%s" in self.auto_id else None
        self.helper.add_input(Submit("subscribe", _("Subscribe"), css_class="btn-primary w-100 mt-2", css_id=submit_id))

    def clean_email(self):
        return normalise_email(self.cleaned_data["email"])

    def clean(self):
        cleaned_data = super().clean()
        if self.check_fill_time:
            age = antispam.form_age_seconds(self.data.get("started", ""))
            if age is not None and age > antispam.FORM_MAX_AGE_SECONDS:
                self.add_error(
                    None, _("This form was open for a long time. Please check your entries and send it again.")
                )
        # Checked last, so that a form sent back for another error does not use up the solved challenge.
        if self.altcha_required and not self.errors and not antispam.altcha_payload_verify(self.data.get("altcha", "")):
            self.add_error(None, _("Please complete the check that you are not a robot, then send the form again."))
        return cleaned_data

    @property
    def is_bot(self) -> bool:
        """Filled the honeypot, or sent the form faster than a human can (or without its start time)."""
        if self.data.get("website"):
            return True
        if not self.check_fill_time:
            return False
        age = antispam.form_age_seconds(self.data.get("started", ""))
        return age is None or age < antispam.min_fill_seconds()
