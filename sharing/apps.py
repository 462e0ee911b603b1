from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = _("Forward and share")

    def ready(self):
        from campaigns import extensions
        from sharing import mail
        from sharing.admin import SubscriberSharingInline
        from sharing.analytics import campaign_sharing_table
        from sharing.conditions import register_sharing_kinds
        from sharing.selectors import subscriber_forwards_export, subscriber_shares_export
        from sharing.services import subscriber_sharing_forget
        from subscribers import extensions as subscriber_extensions
        from subscribers.services import gdpr, preferences
        from tracking.analytics import tables

        extensions.register(extensions.SHARE_BLOCKS, mail)
        extensions.register(extensions.RECIPIENT_LINK_PROVIDERS, mail.campaign_share_links)
        extensions.register(tables.CAMPAIGN_TABLES, campaign_sharing_table)
        extensions.register(gdpr.EXPORT_SECTIONS, subscriber_forwards_export)
        extensions.register(gdpr.EXPORT_SECTIONS, subscriber_shares_export)
        extensions.register(gdpr.ERASE_HOOKS, subscriber_sharing_forget)
        extensions.register(preferences.TRACKING_WITHDRAWN_HOOKS, subscriber_sharing_forget)
        extensions.register(subscriber_extensions.SUBSCRIBER_ADMIN_INLINES, SubscriberSharingInline)
        register_sharing_kinds()
