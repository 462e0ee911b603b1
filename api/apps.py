from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("API")

    def ready(self):
        from api import scopes
        from api.services import idempotency_keys_forget_subscriber
        from subscribers.services import gdpr

        scopes.register("lists:read", _("Read mailing lists (REST API)"))
        scopes.register("subscribers:read", _("Read subscribers (REST API)"))
        scopes.register("subscribers:write", _("Sign up, change and unsubscribe subscribers (REST API)"))
        scopes.register(
            "subscribers:import",
            _("Add subscribers with consent documented elsewhere, without double opt-in (REST API)"),
        )
        scopes.register("subscribers:export", _("Export everything stored about a subscriber (REST API)"))
        scopes.register("subscribers:erase", _("Erase subscribers (REST API)"))
        scopes.register("segments:read", _("Read segments, their counts and members (REST API)"))
        scopes.register("campaigns:read", _("Read campaigns and their figures (REST API)"))
        scopes.register("surveys:read", _("Read surveys and their responses (REST API)"))
        scopes.register("automations:enrol", _("Enrol subscribers in automations (REST API)"))
        if idempotency_keys_forget_subscriber not in gdpr.ERASE_HOOKS:
            gdpr.ERASE_HOOKS.append(idempotency_keys_forget_subscriber)
