from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Outgoing webhooks")

    def ready(self):
        from subscribers.services import gdpr
        from webhooks import receivers

        if receivers.subscriber_erased not in gdpr.ERASE_HOOKS:
            gdpr.ERASE_HOOKS.append(receivers.subscriber_erased)
