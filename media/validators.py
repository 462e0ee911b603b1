"""The upload check lives once, in ``newsletter_site.media`` (article images, library images, logos);
migrations name it here."""

from newsletter_site.media import validate_image_file

__all__ = ["validate_image_file"]
