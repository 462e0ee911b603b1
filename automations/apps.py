from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = _("Automations")

    def ready(self):
        from automations import kinds, mail, signals  # noqa: F401  (signals connects the trigger receivers)
        from automations.selectors import subscriber_journeys_export
        from automations.triggers import register_behaviour_triggers
        from subscribers.services import gdpr

        kinds.register_builtin_kinds()
        register_behaviour_triggers()
        mail.register_mail_kinds()
        if subscriber_journeys_export not in gdpr.EXPORT_SECTIONS:
            gdpr.EXPORT_SECTIONS.append(subscriber_journeys_export)
