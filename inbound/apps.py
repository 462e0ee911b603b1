from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboundConfig(AppConfig):
    name = "inbound"
    verbose_name = _("Inbound mail")

    def ready(self):
        from inbound import receivers  # noqa: F401  (connects Anymail's inbound signal)
        from inbound.services import inbound_messages_forget
        from subscribers.services import gdpr

        if inbound_messages_forget not in gdpr.ERASE_HOOKS:
            gdpr.ERASE_HOOKS.append(inbound_messages_forget)
