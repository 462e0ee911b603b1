"""Writes of the tracking app. The sender uses ``campaign_links_register`` and ``tracking_urls_for``."""

from tracking.services.links import campaign_links_register, honeypot_url_for, tracking_urls_for

__all__ = ["campaign_links_register", "honeypot_url_for", "tracking_urls_for"]
