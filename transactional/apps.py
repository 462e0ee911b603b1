from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransactionalConfig(AppConfig):
    name = "transactional"
    verbose_name = _("Transactional mail")

    def ready(self):
        from api import scopes
        from subscribers.services import gdpr, preferences
        from tracking import extensions
        from transactional.selectors import subscriber_transactional_export
        from transactional.services import transactional_messages_forget_reads, transactional_messages_forget_subscriber
        from transactional.tracking import transactional_tracking

        scopes.register("transactional:send", _("Send transactional mail from templates (REST API)"))
        scopes.register("transactional:read", _("Read transactional templates' figures (REST API)"))
        if subscriber_transactional_export not in gdpr.EXPORT_SECTIONS:
            gdpr.EXPORT_SECTIONS.append(subscriber_transactional_export)
        if transactional_messages_forget_subscriber not in gdpr.ERASE_HOOKS:
            gdpr.ERASE_HOOKS.append(transactional_messages_forget_subscriber)
        if transactional_messages_forget_reads not in preferences.TRACKING_WITHDRAWN_HOOKS:
            preferences.TRACKING_WITHDRAWN_HOOKS.append(transactional_messages_forget_reads)
        if transactional_tracking not in extensions.MESSAGE_SOURCES:
            extensions.MESSAGE_SOURCES.append(transactional_tracking)
