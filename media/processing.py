"""Uploaded images made fit for mail: read safely with Pillow, turned upright, at most
``MAX_WIDTH`` wide, re-encoded as JPEG (opaque) or PNG (transparent or palette graphics), with
no metadata left. Design: docs/architecture.md, "Media library"."""

import dataclasses
import io
import warnings
from pathlib import Path

from django.core.exceptions import ValidationError
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

from newsletter_site.media import validate_image_file

# Twice the mail layout's 600 px column, for sharp images on high-density screens.
MAX_WIDTH = 1200
# Checked on the header, before any pixel is decoded: about a 50 megapixel camera (all frames together).
MAX_PIXELS = 50_000_000
JPEG_QUALITY = 82


@dataclasses.dataclass(frozen=True)
class ProcessedImage:
    content: bytes
    name: str
    original_name: str
    width: int
    height: int
    format: str


def _unreadable() -> ValidationError:
    return ValidationError(_("The image could not be read; it may be damaged or incomplete."), code="image_unreadable")


def process_image(file) -> ProcessedImage:
    """The upload ``file`` ready for the library; ValidationError for anything that is not a sound image."""
    validate_image_file(file)
    original_name = Path(file.name).name
    file.seek(0)
    data = file.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height * getattr(image, "n_frames", 1) > MAX_PIXELS:
                raise Image.DecompressionBombError
            if image.format == "GIF" and getattr(image, "n_frames", 1) > 1:
                image.seek(image.n_frames - 1)  # reads every frame: a truncated GIF fails here
                return _kept_as_is(data, image, original_name)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ValidationError(
            _("The image has too many pixels (at most %(megapixels)d megapixels)."),
            code="image_too_many_pixels",
            params={"megapixels": MAX_PIXELS // 1_000_000},
        ) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as error:
        raise _unreadable() from error
    return _reencoded(image, original_name)


def _kept_as_is(data: bytes, image: Image.Image, original_name: str) -> ProcessedImage:
    """An animated GIF: re-encoding would cost its animation, so its bytes stay (the upload limit holds)."""
    return ProcessedImage(
        content=data,
        name=_stem(original_name) + ".gif",
        original_name=original_name,
        width=image.width,
        height=image.height,
        format="GIF",
    )


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _reencoded(image: Image.Image, original_name: str) -> ProcessedImage:
    # A CMYK or greyscale profile would be wrong on the RGB pixels written below.
    icc_profile = image.info.get("icc_profile") if image.mode in ("RGB", "RGBA", "P") else None
    graphic = _has_alpha(image) or image.mode in ("P", "1")
    image = ImageOps.exif_transpose(image)
    image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    if image.width > MAX_WIDTH:
        height = max(1, round(image.height * MAX_WIDTH / image.width))
        image = image.resize((MAX_WIDTH, height), Image.Resampling.LANCZOS)
    image.info = {}  # EXIF (GPS, camera), XMP and comments stay behind
    out = io.BytesIO()
    options = {"icc_profile": icc_profile} if icc_profile else {}
    if graphic:
        image.save(out, format="PNG", optimize=True, **options)
        kind, suffix = "PNG", ".png"
    else:
        image.save(out, format="JPEG", quality=JPEG_QUALITY, progressive=True, optimize=True, **options)
        kind, suffix = "JPEG", ".jpg"
    return ProcessedImage(
        content=out.getvalue(),
        name=_stem(original_name) + suffix,
        original_name=original_name,
        width=image.width,
        height=image.height,
        format=kind,
    )


def _stem(original_name: str) -> str:
    return slugify(Path(original_name).stem)[:80] or "image"
