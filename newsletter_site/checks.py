"""Start-up checks for settings a wrong value of which would open a hole (run by every manage.py command)."""

from django.conf import settings
from django.core.checks import Error, register
from django.urls import get_resolver

from newsletter_site.client_ip import trusted_proxies_parse


@register()
def webhook_secret_check(app_configs, **kwargs):
    """Anymail accepts webhooks from anyone without a secret: those could unsubscribe or suppress anyone."""
    mounted = "anymail" in get_resolver().app_dict
    if mounted and not getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
        return [
            Error(
                "The ESP webhooks (/anymail/) are mounted without ANYMAIL_WEBHOOK_SECRET.",
                hint="Set ANYMAIL_WEBHOOK_SECRET=user:password and give the ESP the same credentials.",
                id="kanal.E001",
            )
        ]
    return []


@register()
def trusted_proxies_check(app_configs, **kwargs):
    try:
        trusted_proxies_parse(tuple(settings.KANAL_TRUSTED_PROXIES))
    except ValueError as error:
        return [
            Error(
                f"KANAL_TRUSTED_PROXIES has an entry that is not an IP address or network: {error}",
                hint='Comma-separated addresses or CIDRs, e.g. "127.0.0.1,10.0.0.0/8", or "unix".',
                id="kanal.E002",
            )
        ]
    return []
