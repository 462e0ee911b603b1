from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = _("Automations")

    def ready(self):
        from automations import kinds, signals  # noqa: F401  (connects the trigger receivers)

        kinds.register_builtin_kinds()
