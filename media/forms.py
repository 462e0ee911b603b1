from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from media.models import MediaImage
from media.processing import MAX_WIDTH, process_image
from media.services import media_image_fill


class MediaImageUploadForm(forms.ModelForm):
    """The admin's upload page: a file and its alt text; the file is processed while the form is checked."""

    upload = forms.FileField(label=_("image"))

    class Meta:
        model = MediaImage
        fields = ["alt_text"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["upload"].help_text = _(
            "JPEG, PNG, GIF or WebP, up to 5 MB. Resized to at most %(width)d pixels wide and compressed; "
            "camera data and location are removed."
        ) % {"width": MAX_WIDTH}

    def clean(self):
        cleaned = super().clean()
        upload = cleaned.get("upload")
        if upload is not None:
            try:
                processed = process_image(upload)
            except ValidationError as error:
                self.add_error("upload", error)
            else:
                media_image_fill(image=self.instance, processed=processed)
        return cleaned
