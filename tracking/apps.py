from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = _("Tracking")

    def ready(self):
        from campaigns import extensions
        from subscribers.services import gdpr, preferences
        from tracking import signals  # noqa: F401  (connects the Anymail delivery-report receiver)
        from tracking.conditions import register_tracking_kinds
        from tracking.selectors import (
            subscriber_engagement_export,
            subscriber_events_export,
            subscriber_reads_export,
        )
        from tracking.services.consent import subscriber_events_forget_hook
        from tracking.services.links import campaign_recipient_links

        extensions.register(extensions.RECIPIENT_LINK_PROVIDERS, campaign_recipient_links)
        register_tracking_kinds()

        for section in (subscriber_events_export, subscriber_reads_export, subscriber_engagement_export):
            if section not in gdpr.EXPORT_SECTIONS:
                gdpr.EXPORT_SECTIONS.append(section)
        if subscriber_events_forget_hook not in gdpr.ERASE_HOOKS:
            gdpr.ERASE_HOOKS.append(subscriber_events_forget_hook)
        if subscriber_events_forget_hook not in preferences.TRACKING_WITHDRAWN_HOOKS:
            preferences.TRACKING_WITHDRAWN_HOOKS.append(subscriber_events_forget_hook)
