"""Writes to brands: the one default brand."""

from django.db import transaction

from brands.models import Brand


@transaction.atomic
def brand_make_default(*, brand: Brand) -> Brand:
    """Make ``brand`` the default brand and every other brand not; exactly one default remains."""
    Brand.objects.select_for_update().filter(is_default=True).exclude(pk=brand.pk).update(is_default=False)
    brand.is_default = True
    brand.save(update_fields=["is_default"])
    return brand


@transaction.atomic
def brand_save(*, brand: Brand) -> Brand:
    """Validate and save ``brand``; the first brand there is becomes the default."""
    brand.full_clean()
    brand.save()
    if not Brand.objects.filter(is_default=True).exists():
        brand_make_default(brand=brand)
    return brand
