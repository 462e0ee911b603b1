from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = _("Offers")

    def ready(self):
        from api import scopes
        from campaigns import extensions as campaign_extensions
        from offers import mail
        from offers.admin import SubscriberRedemptionInline
        from offers.analytics import campaign_offers_table
        from offers.conditions import register_offer_kinds
        from offers.selectors import subscriber_redemptions_export
        from subscribers import extensions
        from subscribers.services import gdpr
        from tracking.analytics.tables import CAMPAIGN_TABLES

        campaign_extensions.register(campaign_extensions.OFFER_BLOCKS, mail)
        campaign_extensions.register(campaign_extensions.BATCH_PREPARERS, mail.campaign_offer_codes)
        for name in mail.MERGE_TAGS:
            campaign_extensions.register(campaign_extensions.RECIPIENT_VALUES, name)

        scopes.register("offers:redeem", _("Report coupon redemptions (shop)"))
        register_offer_kinds()
        for registry, item in (
            (gdpr.EXPORT_SECTIONS, subscriber_redemptions_export),
            (CAMPAIGN_TABLES, campaign_offers_table),
            (extensions.SUBSCRIBER_ADMIN_INLINES, SubscriberRedemptionInline),
        ):
            if item not in registry:
                registry.append(item)
