from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OffersConfig(AppConfig):
    name = "offers"
    verbose_name = _("Offers")

    def ready(self):
        from api import scopes
        from campaigns import extensions
        from offers import mail
        from offers.selectors import subscriber_redemptions_export
        from subscribers.services import gdpr

        extensions.register(extensions.OFFER_BLOCKS, mail)
        extensions.register(extensions.BATCH_PREPARERS, mail.campaign_offer_codes)
        for name in mail.MERGE_TAGS:
            extensions.register(extensions.RECIPIENT_VALUES, name)

        scopes.register("offers:redeem", _("Report coupon redemptions (shop)"))
        if subscriber_redemptions_export not in gdpr.EXPORT_SECTIONS:
            gdpr.EXPORT_SECTIONS.append(subscriber_redemptions_export)
