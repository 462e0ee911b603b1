"""Which brand a list, a campaign or a public page uses."""

from django.conf import settings

from brands.models import Brand


def _brands(with_social_links: bool):
    return Brand.objects.prefetch_related("social_links") if with_social_links else Brand.objects.all()


def default_brand(*, with_social_links: bool = True) -> Brand:
    """The default brand; without one (never after the migrations), an unsaved brand from the settings.
    Pages show no social links: they ask ``with_social_links=False`` and save a query."""
    brand = _brands(with_social_links).filter(is_default=True).first()
    if brand is not None:
        return brand
    return Brand(
        name="Kanal",
        company_address=settings.KANAL_COMPANY_ADDRESS,
        imprint_url=settings.KANAL_IMPRINT_URL,
        privacy_url=settings.KANAL_PRIVACY_URL,
        is_default=True,
    )


def brand_for_list(mailing_list, *, with_social_links: bool = True) -> Brand:
    """The list's own brand, else the default brand."""
    if mailing_list is not None and mailing_list.brand_id is not None:
        return _brands(with_social_links).get(pk=mailing_list.brand_id)
    return default_brand(with_social_links=with_social_links)


def brand_for_campaign(campaign, *, with_social_links: bool = True) -> Brand:
    """The campaign's own brand, else the brand of its first list that has one, else the default brand."""
    if campaign.brand_id is not None:
        return _brands(with_social_links).get(pk=campaign.brand_id)
    if campaign.pk is not None:
        brand = (
            _brands(with_social_links).filter(mailing_lists__campaigns=campaign).order_by("mailing_lists__pk").first()
        )
        if brand is not None:
            return brand
    return default_brand(with_social_links=with_social_links)
