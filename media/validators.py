from pathlib import Path

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".webp"}
IMAGE_MAX_BYTES = 5 * 1024 * 1024


def _looks_like_image(head: bytes) -> bool:
    return (
        head.startswith(b"\x89PNG\r\n\x1a\n")
        or head.startswith(b"\xff\xd8\xff")
        or head[:6] in (b"GIF87a", b"GIF89a")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


def validate_image_file(value) -> None:
    """JPEG, PNG, GIF or WebP by extension and by content, without needing Pillow."""
    if Path(value.name).suffix.lower() not in IMAGE_EXTENSIONS:
        raise ValidationError(_("Upload a JPEG, PNG, GIF or WebP image."), code="image_extension")
    if value.size is not None and value.size > IMAGE_MAX_BYTES:
        raise ValidationError(_("The image is larger than 5 MB."), code="image_size")
    position = value.tell() if hasattr(value, "tell") else 0
    value.seek(0)
    head = value.read(16)
    value.seek(position)
    if not _looks_like_image(head):
        raise ValidationError(_("The file is not a JPEG, PNG, GIF or WebP image."), code="image_content")
