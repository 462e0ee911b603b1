from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SendTimeConfig(AppConfig):
    name = "sendtime"
    verbose_name = _("Send time")

    def ready(self):
        from campaigns import extensions
        from sendtime import receivers  # noqa: F401 - connects the signal receivers
        from sendtime.admin import SubscriberSendTimeProfileInline, campaign_send_time_note
        from sendtime.analytics import campaign_delivery_hour_table
        from sendtime.selectors import subscriber_send_time_export
        from sendtime.services import campaign_deliveries_schedule, subscriber_profile_forget
        from subscribers import extensions as subscriber_extensions
        from subscribers.services import gdpr, preferences
        from tracking.analytics.tables import CAMPAIGN_TABLES

        extensions.register(extensions.DELIVERY_SCHEDULERS, campaign_deliveries_schedule)
        extensions.register(extensions.CAMPAIGN_ADMIN_NOTES, campaign_send_time_note)
        extensions.register(CAMPAIGN_TABLES, campaign_delivery_hour_table)
        extensions.register(subscriber_extensions.SUBSCRIBER_ADMIN_INLINES, SubscriberSendTimeProfileInline)
        extensions.register(gdpr.EXPORT_SECTIONS, subscriber_send_time_export)
        extensions.register(preferences.TRACKING_WITHDRAWN_HOOKS, subscriber_profile_forget)
