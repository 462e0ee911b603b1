from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = _("Referrals")

    def ready(self):
        from campaigns import extensions
        from referrals import pages, receivers, shares  # noqa: F401  (connects the signal receivers)
        from referrals.rewards import register_builtin_rewards
        from referrals.selectors import subscriber_referrals_export
        from referrals.services import subscriber_referrals_erase
        from sharing import referrals as sharing_referrals
        from subscribers import extensions as subscriber_extensions
        from subscribers.services import gdpr

        register_builtin_rewards()
        extensions.register(extensions.RECIPIENT_LINK_PROVIDERS, pages.campaign_referral_links)
        extensions.register(extensions.RECIPIENT_LINK_PROVIDERS, pages.campaign_reward_codes)
        extensions.register(extensions.RECIPIENT_VALUES, pages.MERGE_TAG)
        extensions.register(extensions.RECIPIENT_VALUES, pages.REWARD_CODE_TAG)
        extensions.register(sharing_referrals.REFERRAL_SOURCES, shares.SOURCE)
        extensions.register(subscriber_extensions.SIGNUP_EXTRAS, pages.SIGNUP_EXTRA)
        extensions.register(subscriber_extensions.PREFERENCE_SECTIONS, pages.preference_section)
        extensions.register(gdpr.EXPORT_SECTIONS, subscriber_referrals_export)
        extensions.register(gdpr.ERASE_HOOKS, subscriber_referrals_erase)
