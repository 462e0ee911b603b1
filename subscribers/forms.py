from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from subscribers.models import normalise_email


class SubscribeForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    # Humans never see this field; bots that fill every input do.
    website = forms.CharField(label=_("Leave this field empty"), required=False, max_length=200)
    consent = forms.BooleanField(label="", required=True)

    def __init__(self, *args, consent_text: str, language: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["consent"].label = consent_text
        self.fields["consent"].error_messages["required"] = _("Please agree so that we may send you the newsletter.")
        self.language = language
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.add_input(Submit("subscribe", _("Subscribe"), css_class="btn-primary w-100 mt-2"))

    def clean_email(self):
        return normalise_email(self.cleaned_data["email"])

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))
