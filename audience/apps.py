from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AudienceConfig(AppConfig):
    name = "audience"
    verbose_name = _("Audience")

    def ready(self):
        from audience import kinds

        kinds.register_profile_kinds()
        kinds.register_custom_field_kind()
