from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from subscribers.forms import custom_form_fields, custom_values
from subscribers.models import Language, MailingList


class PreferencesForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    language = forms.ChoiceField(label=_("Language"), choices=Language.choices)
    mailing_lists = forms.ModelMultipleChoiceField(
        label=_("Newsletters"),
        queryset=MailingList.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_("Newly chosen newsletters start after you confirm them by email."),
    )
    tracking_consent = forms.BooleanField(
        label=_("Measure which newsletters I open and which links I click, so that content fits me better."),
        required=False,
        help_text=_("Optional. Without it we count opens and clicks only anonymously. You can change this any time."),
    )

    def __init__(self, *args, available_lists, custom_fields=(), stored_values=None, language: str = "de", **kwargs):
        """``custom_fields``: those shown in the preference centre. The editable ones can be changed;
        a required one cannot be emptied once it holds a value, but may stay empty (a field added
        later must not keep anyone from saving their other choices). The others are shown disabled:
        the subscriber sees what is stored about them."""
        stored_values = stored_values or {}
        kwargs["initial"] = {
            **kwargs.get("initial", {}),
            **{f"field_{field.key}": stored_values.get(field.key) for field in custom_fields},
        }
        super().__init__(*args, **kwargs)
        self.fields["mailing_lists"].queryset = available_lists
        for field in custom_fields:
            (name, form_field), *_rest = custom_form_fields(
                [field], language=language, required=field.required and field.key in stored_values
            ).items()
            form_field.disabled = not field.editable
            self.fields[name] = form_field
        self.editable_keys = [field.key for field in custom_fields if field.editable]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.add_input(Submit("save", _("Save preferences"), css_class="btn-primary w-100 mt-2"))

    def custom_values(self) -> dict:
        """{key: cleaned value or None} of the custom fields the subscriber may edit."""
        return {key: value for key, value in custom_values(self).items() if key in self.editable_keys}


class UnsubscribeForm(forms.Form):
    scope = forms.ChoiceField(label=_("Unsubscribe from"), widget=forms.RadioSelect)

    def __init__(self, *args, subscriptions, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("all", _("all newsletters"))]
        choices += [
            (str(subscription.mailing_list_id), subscription.mailing_list.name) for subscription in subscriptions
        ]
        self.fields["scope"].choices = choices
        self.fields["scope"].initial = "all"
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.add_input(Submit("unsubscribe", _("Unsubscribe"), css_class="btn-danger w-100 mt-2"))
