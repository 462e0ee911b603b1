from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from media.models import MediaImage
from media.processing import ProcessedImage, process_image


def media_image_fill(*, image: MediaImage, processed: ProcessedImage) -> None:
    """Put a processed upload into an unsaved library image (the admin's upload form uses this too)."""
    image.file = ContentFile(processed.content, name=processed.name)
    image.original_name = processed.original_name[:255]
    image.width = processed.width
    image.height = processed.height
    image.bytes = len(processed.content)
    image.format = processed.format


def upload_image(*, file, alt_text: str, uploaded_by=None) -> MediaImage:
    """Resize, compress and strip an uploaded image and add it to the media library.

    ValidationError (nothing stored) when the alt text is missing or the file is no sound image."""
    _require_alt_text(alt_text)
    return media_image_create(processed=process_image(file), alt_text=alt_text, uploaded_by=uploaded_by)


@transaction.atomic
def media_image_create(*, processed: ProcessedImage, alt_text: str, uploaded_by=None) -> MediaImage:
    """A library image of an upload already processed (``media.processing.process_image``)."""
    _require_alt_text(alt_text)
    image = MediaImage(alt_text=alt_text.strip(), uploaded_by=uploaded_by)
    media_image_fill(image=image, processed=processed)
    image.full_clean()
    image.save()
    return image


def _require_alt_text(alt_text: str) -> None:
    if not (alt_text or "").strip():
        raise ValidationError({"alt_text": _("Describe the image for readers who cannot see it.")})
