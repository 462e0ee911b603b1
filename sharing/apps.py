from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = _("Forward and share")

    def ready(self):
        from campaigns import extensions
        from sharing import mail
        from sharing.analytics import campaign_sharing_table
        from sharing.selectors import subscriber_forwards_export
        from subscribers.services import gdpr
        from tracking.analytics import tables

        extensions.register(extensions.SHARE_BLOCKS, mail)
        extensions.register(extensions.RECIPIENT_LINK_PROVIDERS, mail.campaign_share_links)
        extensions.register(tables.CAMPAIGN_TABLES, campaign_sharing_table)
        extensions.register(gdpr.EXPORT_SECTIONS, subscriber_forwards_export)
