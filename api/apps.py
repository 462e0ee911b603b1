from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("API")

    def ready(self):
        from api import scopes

        scopes.register("lists:read", _("Read mailing lists (REST API)"))
        scopes.register("subscribers:read", _("Read subscribers (REST API)"))
        scopes.register("subscribers:write", _("Sign up, change and unsubscribe subscribers (REST API)"))
