from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from campaigns.merge_tags import validate_merge_tags
from campaigns.services.lifecycle import FollowUp
from campaigns.services.test_send import MAX_TEST_RECIPIENTS


class ScheduleForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label=_("Send at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
    )
    confirm_warnings = forms.BooleanField(
        label=_("Send anyway, despite the checklist's warnings"),
        required=False,
        help_text=_("Blocking items are checked again when the time comes; warnings are not asked for again."),
    )


class TestSendForm(forms.Form):
    addresses = forms.CharField(
        label=_("Send to"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Up to five addresses, separated by commas or line breaks."),
    )
    as_subscriber = forms.EmailField(
        label=_("Personalise as subscriber"),
        required=False,
        help_text=_(
            "Address of a subscriber whose name fills the merge tags and whose segments decide which articles "
            "for a segment the test shows. Empty: a sample subscriber, and every article for a segment, marked."
        ),
    )

    def clean_addresses(self):
        raw = self.cleaned_data["addresses"].replace(";", ",").replace("\n", ",")
        addresses = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
        if not addresses:
            raise ValidationError(_("Enter at least one address."))
        if len(addresses) > MAX_TEST_RECIPIENTS:
            raise ValidationError(_("Enter at most %(count)d addresses.") % {"count": MAX_TEST_RECIPIENTS})
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError as error:
                raise ValidationError(_("“%(address)s” is not an email address.") % {"address": address}) from error
        return addresses


class FollowUpForm(forms.Form):
    reaction = forms.ChoiceField(
        label=_("Send to the recipients who"), choices=FollowUp.CHOICES, widget=forms.RadioSelect
    )
    subject = forms.CharField(label=_("Subject of the follow-up"), max_length=255, validators=[validate_merge_tags])
