from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = _("Tracking")

    def ready(self):
        from subscribers.services import gdpr
        from tracking import signals  # noqa: F401  (connects the Anymail delivery-report receiver)
        from tracking.selectors import subscriber_events_export
        from tracking.services.consent import subscriber_events_forget_hook

        if subscriber_events_export not in gdpr.EXPORT_SECTIONS:
            gdpr.EXPORT_SECTIONS.append(subscriber_events_export)
        if subscriber_events_forget_hook not in gdpr.ERASE_HOOKS:
            gdpr.ERASE_HOOKS.append(subscriber_events_forget_hook)
