from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscribersConfig(AppConfig):
    name = "subscribers"
    verbose_name = _("Subscribers")

    def ready(self):
        from subscribers import signals  # noqa: F401  (connects the Anymail tracking receiver)
