"""Public uploads (article images): their storage and the view behind MEDIA_URL.

Whitenoise serves only files that exist when the process starts, so runtime uploads need this
view (or a web server pointed at MEDIA_ROOT). It serves image types only, from the public
storage only: private uploads such as subscriber imports live in the default storage, outside
MEDIA_ROOT, and no URL reaches them. With object storage (S3) it redirects to the object's
public URL, so images in mails sent before the move keep loading once the files are copied over.
"""

from pathlib import PurePosixPath

from django.core.exceptions import SuspiciousOperation, ValidationError
from django.core.files.storage import storages
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

PUBLIC_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
IMAGE_MAX_BYTES = 5 * 1024 * 1024
# Uploaded names never change (the storage adds a suffix instead of overwriting).
CACHE_CONTROL = "public, max-age=86400"


def public_storage():
    """The storage of files anyone may fetch (``STORAGES["public"]``); a callable, so settings decide."""
    return storages["public"]


def _looks_like_image(head: bytes) -> bool:
    return (
        head.startswith(b"\x89PNG\r\n\x1a\n")
        or head.startswith(b"\xff\xd8\xff")
        or head[:6] in (b"GIF87a", b"GIF89a")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


def validate_image_file(value) -> None:
    """JPEG, PNG, GIF or WebP by extension and by content, without needing Pillow (article images, logos)."""
    if PurePosixPath(value.name).suffix.lower() not in PUBLIC_TYPES:
        raise ValidationError(_("Upload a JPEG, PNG, GIF or WebP image."), code="image_extension")
    if value.size is not None and value.size > IMAGE_MAX_BYTES:
        raise ValidationError(_("The image is larger than 5 MB."), code="image_size")
    position = value.tell() if hasattr(value, "tell") else 0
    value.seek(0)
    head = value.read(16)
    value.seek(position)
    if not _looks_like_image(head):
        raise ValidationError(_("The file is not a JPEG, PNG, GIF or WebP image."), code="image_content")


@require_safe
def media_serve(request, name: str):
    """One public upload, with a fixed image type, no sniffing, and nothing it could run."""
    content_type = PUBLIC_TYPES.get(PurePosixPath(name).suffix.lower())
    if content_type is None:
        raise Http404
    storage = public_storage()
    try:
        path = storage.path(name)
    except NotImplementedError:
        return _redirect_to_object(storage, name)
    except SuspiciousOperation as error:
        raise Http404 from error
    try:
        handle = open(path, "rb")  # noqa: SIM115 (FileResponse closes it)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
        raise Http404 from error
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _redirect_to_object(storage, name: str):
    try:
        url = storage.url(name)
    except SuspiciousOperation as error:  # a name that climbs out of the public prefix
        raise Http404 from error
    return HttpResponseRedirect(url)
