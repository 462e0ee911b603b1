from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from campaigns.conditions import register_delivery_kinds
        from campaigns.selectors import deliveries_for_export
        from subscribers.services import gdpr

        if deliveries_for_export not in gdpr.EXPORT_SECTIONS:
            gdpr.EXPORT_SECTIONS.append(deliveries_for_export)
        register_delivery_kinds()
