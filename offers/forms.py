from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from offers.models import CODE_MAX_LENGTH
from offers.services.pools import MAX_GENERATE


class CsvFileForm(forms.Form):
    csv_file = forms.FileField(label=_("CSV file"))

    def clean_csv_file(self):
        upload = self.cleaned_data["csv_file"]
        if upload.size > settings.KANAL_IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(limit)s.") % {"limit": filesizeformat(settings.KANAL_IMPORT_MAX_BYTES)}
            )
        return upload


class GenerateCodesForm(forms.Form):
    pattern = forms.CharField(
        label=_("pattern"),
        initial="XXXX-XXXX",
        max_length=48,
        help_text=_("Each X becomes a random character from 0-9 and A-Z without I, L, O and U, e.g. SPRING-XXXX-XXXX."),
    )
    count = forms.IntegerField(label=_("number of codes"), min_value=1, max_value=MAX_GENERATE)
    check_character = forms.BooleanField(
        label=_("add a check character"), required=False, help_text=_("One more character that catches typos.")
    )


class SharedCodeForm(forms.Form):
    code = forms.CharField(label=_("shared code"), max_length=CODE_MAX_LENGTH)
