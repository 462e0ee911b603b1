import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from newsletter_site.mail import header_text

NAME_MAX_LENGTH = 60
_SEPARATORS = re.compile(r"[\s,;]+")
# A name that carries a link or an address would turn the forward into a spam relay.
_NOT_A_NAME = re.compile(r"://|www\.|@|<|>", re.IGNORECASE)


class ForwardForm(forms.Form):
    name = forms.CharField(
        label=_("Your name"),
        max_length=NAME_MAX_LENGTH,
        help_text=_("Your friends see it as the person who recommends this newsletter."),
    )
    addresses = forms.CharField(
        label=_("Your friends' email addresses"),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    agree = forms.BooleanField(
        label=_("I know these people and they would want this mail from me."),
    )

    def __init__(self, *args, max_recipients: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_recipients = max_recipients or settings.KANAL_FORWARD_MAX_RECIPIENTS
        self.fields["addresses"].help_text = gettext(
            "One address, or several separated by commas or lines: at most %(count)d."
        ) % {"count": self.max_recipients}

    def clean_name(self) -> str:
        name = header_text(self.cleaned_data["name"], max_length=NAME_MAX_LENGTH)
        if not name or _NOT_A_NAME.search(name):
            raise ValidationError(_("Please enter just your name, without links or addresses."), code="not_a_name")
        return name

    def clean_addresses(self) -> list[str]:
        found = []
        for part in _SEPARATORS.split(self.cleaned_data["addresses"]):
            address = part.strip().lower()
            if address and address not in found:
                found.append(address)
        invalid = []
        for address in found:
            try:
                validate_email(address)
            except ValidationError:
                invalid.append(address)
        if invalid:
            raise ValidationError(
                _("These are not valid email addresses: %(addresses)s") % {"addresses": ", ".join(invalid)},
                code="invalid",
            )
        if not found:
            raise ValidationError(_("Please enter at least one email address."), code="required")
        if len(found) > self.max_recipients:
            raise ValidationError(
                ngettext(
                    "You can forward to at most %(count)d address at once.",
                    "You can forward to at most %(count)d addresses at once.",
                    self.max_recipients,
                )
                % {"count": self.max_recipients},
                code="too_many",
            )
        return found
