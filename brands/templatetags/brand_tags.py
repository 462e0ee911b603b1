from django import template

from brands.selectors import brand_for_campaign, brand_for_list

register = template.Library()


@register.simple_tag(takes_context=True)
def page_brand(context):
    """The brand of a public page: its campaign's, else its list's (or its subscription's); None on other
    pages, staff pages included."""
    if context.get("brand") is not None:
        return context["brand"]
    if getattr(context.get("request"), "is_staff_page", False):
        return None
    campaign = context.get("campaign")
    if campaign is not None and hasattr(campaign, "brand_id"):
        return brand_for_campaign(campaign, with_social_links=False)
    mailing_list = context.get("mailing_list")
    if mailing_list is None and context.get("subscription") is not None:
        mailing_list = getattr(context["subscription"], "mailing_list", None)
    if mailing_list is not None and hasattr(mailing_list, "brand_id"):
        return brand_for_list(mailing_list, with_social_links=False)
    return None
