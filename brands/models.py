from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from brands.sandbox import validate_layout_source
from newsletter_site.media import public_storage, validate_image_file

validate_color = RegexValidator(
    r"^#[0-9a-fA-F]{6}$", _("Enter a colour as #rrggbb, for example #1d4ed8."), code="invalid_color"
)


def validate_logo_file(value) -> None:
    """A logo is an image as article images are: JPEG, PNG, GIF or WebP, at most 5 MB."""
    validate_image_file(value)


validate_web_url = URLValidator(schemes=["http", "https"], message=_("Enter an http:// or https:// address."))


class Font(models.TextChoices):
    """Font stacks every mail program has; no web fonts (no requests to third parties)."""

    SYSTEM_SANS = "system_sans", _("System sans-serif")
    GEORGIA = "georgia", _("Georgia (serif)")
    ARIAL = "arial", _("Arial / Helvetica")
    VERDANA = "verdana", _("Verdana")
    TREBUCHET = "trebuchet", _("Trebuchet MS")
    COURIER = "courier", _("Courier (monospace)")


FONT_STACKS = {
    Font.SYSTEM_SANS: "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif",
    Font.GEORGIA: "Georgia, 'Times New Roman', Times, serif",
    Font.ARIAL: "Arial, Helvetica, sans-serif",
    Font.VERDANA: "Verdana, Geneva, sans-serif",
    Font.TREBUCHET: "'Trebuchet MS', Helvetica, sans-serif",
    Font.COURIER: "'Courier New', Courier, monospace",
}


class Brand(models.Model):
    """How mails and public pages look and what their legal footer says; lists and campaigns choose one."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    logo = models.FileField(
        _("logo"),
        upload_to="brands/logos/%Y/%m/",
        storage=public_storage,
        validators=[validate_logo_file],
        blank=True,
    )
    logo_url = models.URLField(
        _("logo address"),
        max_length=2000,
        blank=True,
        validators=[validate_web_url],
        help_text=_("Used when no logo is uploaded."),
    )
    logo_width = models.PositiveSmallIntegerField(
        _("logo width in pixels"), default=160, help_text=_("Shown at this width at the top of the mail.")
    )
    primary_color = models.CharField(
        _("primary colour"),
        max_length=7,
        default="#1d4ed8",
        validators=[validate_color],
        help_text=_("Buttons and links."),
    )
    accent_color = models.CharField(
        _("accent colour"), max_length=7, default="#d97706", validators=[validate_color], help_text=_("Offers.")
    )
    background_color = models.CharField(
        _("background colour"), max_length=7, default="#f3f4f6", validators=[validate_color]
    )
    text_color = models.CharField(_("text colour"), max_length=7, default="#1f2933", validators=[validate_color])
    font = models.CharField(_("font"), max_length=16, choices=Font.choices, default=Font.SYSTEM_SANS)
    company_address = models.TextField(_("company address"), help_text=_("The legal footer of every mail."))
    imprint_url = models.URLField(_("imprint address"), max_length=2000, validators=[validate_web_url])
    privacy_url = models.URLField(_("privacy policy address"), max_length=2000, validators=[validate_web_url])
    # Exactly one brand is the default; brands.services.brand_make_default keeps it so.
    is_default = models.BooleanField(_("default brand"), default=False, editable=False)

    class Meta:
        verbose_name = _("brand")
        verbose_name_plural = _("brands")
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="brands_one_default_brand"
            )
        ]

    def __str__(self):
        return self.name

    @property
    def font_stack(self) -> str:
        return FONT_STACKS.get(self.font, FONT_STACKS[Font.SYSTEM_SANS])

    @property
    def logo_src(self) -> str:
        """The logo's address as given (an upload's URL may be relative; the mail makes it absolute)."""
        return self.logo.url if self.logo else self.logo_url


class SocialLink(models.Model):
    class Platform(models.TextChoices):
        WEBSITE = "website", _("Website")
        MASTODON = "mastodon", _("Mastodon")
        BLUESKY = "bluesky", _("Bluesky")
        LINKEDIN = "linkedin", _("LinkedIn")
        INSTAGRAM = "instagram", _("Instagram")
        FACEBOOK = "facebook", _("Facebook")
        YOUTUBE = "youtube", _("YouTube")
        X = "x", _("X")

    brand = models.ForeignKey(Brand, verbose_name=_("brand"), on_delete=models.CASCADE, related_name="social_links")
    platform = models.CharField(_("platform"), max_length=16, choices=Platform.choices)
    url = models.URLField(_("address"), max_length=2000, validators=[validate_web_url])
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("social link")
        verbose_name_plural = _("social links")
        ordering = ["position", "pk"]

    def __str__(self):
        return f"{self.get_platform_display()}: {self.url}"


class Layout(models.Model):
    """A custom MJML layout: markers such as {{ articles }} stand for Kanal's own blocks (brands.sandbox)."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    mjml = models.TextField(
        _("MJML source"),
        help_text=_(
            "A complete <mjml> document. Kanal's blocks go where these markers stand: {{ head }}, {{ header }}, "
            "{{ articles }} (required), {{ offer }}, {{ survey }}, {{ share }}, {{ footer }} (required: "
            "the legal footer with the unsubscribe link), {{ subject }}, {{ preheader }}, {{ brand.name }}, "
            "{{ brand.primary_color }}, {{ brand.accent_color }}, {{ brand.background_color }}, "
            "{{ brand.text_color }}, {{ brand.font }}. No other template syntax is allowed."
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("custom layout")
        verbose_name_plural = _("custom layouts")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        errors = validate_layout_source(self.mjml)
        if errors:
            raise ValidationError({"mjml": errors})
