from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Layout, Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from subscribers import antispam
from subscribers.models import normalise_email

# Off-screen rather than display:none, which some bots recognise and skip.
HONEYPOT_STYLE = "position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden"

ALTCHA_WIDGET = HTML(
    '{% if altcha_challenge_url %}<div class="mb-3">'
    '<altcha-widget name="altcha" challenge="{{ altcha_challenge_url }}"></altcha-widget></div>{% endif %}'
)


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
        self, *args, consent_text: str, language: str, altcha_required: bool = False, check_fill_time=True, **kwargs
    ):
        super().__init__(*args, **kwargs)
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
            Div("website", aria_hidden="true", style=HONEYPOT_STYLE),
            "consent",
            ALTCHA_WIDGET,
        )
        self.helper.add_input(Submit("subscribe", _("Subscribe"), css_class="btn-primary w-100 mt-2"))

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
