from celery.signals import worker_ready
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def tick_when_a_worker_starts(**_kwargs) -> None:
    """Journeys that fell due while no worker ran (or whose runner a kill took) start with the
    worker, not at beat's next tick."""
    from automations import tasks

    tasks.tick.delay()


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = _("Automations")

    def ready(self):
        from automations import kinds, mail, signals  # noqa: F401  (signals connects the trigger receivers)
        from automations.selectors import subscriber_journeys_export
        from automations.triggers import register_behaviour_triggers
        from campaigns import extensions
        from subscribers.services import gdpr

        worker_ready.connect(tick_when_a_worker_starts, dispatch_uid="automations-tick-on-worker-start")
        kinds.register_builtin_kinds()
        register_behaviour_triggers()
        mail.register_mail_kinds()
        extensions.register(extensions.BATCH_PREPARERS, mail.journey_payload_values)
        extensions.register(extensions.RECIPIENT_VALUE_NAMESPACES, mail.PAYLOAD)
        if subscriber_journeys_export not in gdpr.EXPORT_SECTIONS:
            gdpr.EXPORT_SECTIONS.append(subscriber_journeys_export)
