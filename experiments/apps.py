from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExperimentsConfig(AppConfig):
    name = "experiments"
    verbose_name = _("A/B tests")

    def ready(self):
        from campaigns import extensions
        from experiments.selectors import base_campaign_send_blocker, subscriber_ab_tests_export
        from subscribers.services import gdpr

        if base_campaign_send_blocker not in extensions.SEND_BLOCKERS:
            extensions.SEND_BLOCKERS.append(base_campaign_send_blocker)
        if subscriber_ab_tests_export not in gdpr.EXPORT_SECTIONS:
            gdpr.EXPORT_SECTIONS.append(subscriber_ab_tests_export)
