"""Which brand a list, a campaign or a public page uses."""

from django.conf import settings

from brands.models import Brand


def default_brand() -> Brand:
    """The default brand; without one (never after the migrations), an unsaved brand from the settings."""
    brand = Brand.objects.filter(is_default=True).prefetch_related("social_links").first()
    if brand is not None:
        return brand
    return Brand(
        name="Kanal",
        company_address=settings.KANAL_COMPANY_ADDRESS,
        imprint_url=settings.KANAL_IMPRINT_URL,
        privacy_url=settings.KANAL_PRIVACY_URL,
        is_default=True,
    )


def brand_for_list(mailing_list) -> Brand:
    """The list's own brand, else the default brand."""
    if mailing_list is not None and mailing_list.brand_id is not None:
        return Brand.objects.prefetch_related("social_links").get(pk=mailing_list.brand_id)
    return default_brand()


def brand_for_campaign(campaign) -> Brand:
    """The campaign's own brand, else the brand of its first list that has one, else the default brand."""
    if campaign.brand_id is not None:
        return Brand.objects.prefetch_related("social_links").get(pk=campaign.brand_id)
    if campaign.pk is not None:
        brand = (
            Brand.objects.filter(mailing_lists__campaigns=campaign)
            .order_by("mailing_lists__pk")
            .prefetch_related("social_links")
            .first()
        )
        if brand is not None:
            return brand
    return default_brand()
