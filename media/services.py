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


@transaction.atomic
def upload_image(*, file, alt_text: str, uploaded_by=None) -> MediaImage:
    """Resize, compress and strip an uploaded image and add it to the media library.

    ValidationError (nothing stored) when the alt text is missing or the file is no sound image."""
    alt_text = (alt_text or "").strip()
    if not alt_text:
        raise ValidationError({"alt_text": _("Describe the image for readers who cannot see it.")})
    image = MediaImage(alt_text=alt_text, uploaded_by=uploaded_by)
    media_image_fill(image=image, processed=process_image(file))
    image.full_clean()
    image.save()
    return image
