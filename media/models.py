from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from newsletter_site.media import public_storage


class MediaImage(models.Model):
    """An image of the media library, already resized and compressed for mail (``media.processing``)."""

    class Format(models.TextChoices):
        JPEG = "JPEG", "JPEG"
        PNG = "PNG", "PNG"
        GIF = "GIF", "GIF"

    file = models.FileField(_("file"), upload_to="library/%Y/%m/", storage=public_storage, editable=False)
    original_name = models.CharField(_("original file name"), max_length=255, editable=False)
    width = models.PositiveIntegerField(_("width"), editable=False)
    height = models.PositiveIntegerField(_("height"), editable=False)
    bytes = models.PositiveIntegerField(_("size in bytes"), editable=False)
    format = models.CharField(_("format"), max_length=8, choices=Format.choices, editable=False)
    alt_text = models.CharField(
        _("image description (alt text)"),
        max_length=300,
        help_text=_("What the image shows, for readers who cannot see it. Articles use it unless they give their own."),
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    created = models.DateTimeField(_("uploaded"), auto_now_add=True)

    class Meta:
        verbose_name = _("image")
        verbose_name_plural = _("images")
        ordering = ["-created", "-pk"]

    def __str__(self):
        return f"{self.original_name} ({self.width}×{self.height})"
