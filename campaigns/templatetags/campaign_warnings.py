"""Warnings about campaigns for the staff's first page (the admin index, later the dashboard)."""

from django import template

from campaigns.selectors import campaigns_stalled
from newsletter_site import permissions

register = template.Library()


@register.inclusion_tag("admin/campaigns/stalled_campaigns.html", takes_context=True)
def stalled_campaigns(context) -> dict:
    """Stalled campaigns with links to their pages, for staff who may view campaigns; else nothing."""
    user = context["request"].user
    if not permissions.has_staff_permissions(user, "campaigns.view_campaign"):
        return {"stalls": []}
    return {"stalls": campaigns_stalled()}
