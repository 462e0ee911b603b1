from django.contrib import admin
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from media.forms import MediaImageUploadForm
from media.models import MediaImage

THUMBNAIL_WIDTH = 80
DETAILS = ["original_name", "dimensions", "size", "format", "uploaded_by", "created"]


def _thumbnail(image: MediaImage, width: int):
    height = max(1, round(image.height * width / image.width)) if image.width else width
    return format_html(
        '<img src="{}" alt="{}" width="{}" height="{}" loading="lazy" class="kanal-thumbnail">',
        image.file.url,
        image.alt_text,
        width,
        height,
    )


@admin.register(MediaImage)
class MediaImageAdmin(admin.ModelAdmin):
    """The media library: upload (with alt text), look at, describe; images in use cannot be deleted."""

    list_display = ["thumbnail", "original_name", "dimensions", "size", "format", "alt_text", "created"]
    list_display_links = ["thumbnail", "original_name"]
    list_filter = ["format"]
    search_fields = ["original_name", "alt_text"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = MediaImageUploadForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["upload", "alt_text"]
        return ["preview", "alt_text", *DETAILS]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["preview", *DETAILS]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.uploaded_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("image"))
    def thumbnail(self, obj):
        return _thumbnail(obj, THUMBNAIL_WIDTH)

    @admin.display(description=_("image"))
    def preview(self, obj):
        return _thumbnail(obj, min(obj.width, 600))

    @admin.display(description=_("size (width × height)"))
    def dimensions(self, obj):
        return f"{obj.width} × {obj.height}"

    @admin.display(description=_("file size"), ordering="bytes")
    def size(self, obj):
        return filesizeformat(obj.bytes)
