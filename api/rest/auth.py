"""The REST API's authentication: the api app's one key check, then the per-key rate limit."""

from django.conf import settings
from django.utils.translation import gettext as _
from django_ratelimit.core import get_usage
from ninja.security import HttpBearer

from api.models import ApiKey
from api.rest.problems import Problem
from api.services import ApiKeyError, api_key_authenticate


def api_rate_limit_check(request, *, api_key: ApiKey) -> None:
    """A fixed window of one minute per key, counted in the cache (Redis); 429 with Retry-After."""
    usage = get_usage(
        request,
        group="api-key",
        key=lambda _group, _request: str(api_key.pk),
        rate=f"{settings.KANAL_API_RATE_PER_MINUTE}/m",
        increment=True,
    )
    if usage and usage["should_limit"]:
        retry_after = max(1, usage["time_left"])
        raise Problem(
            429,
            _("Too many requests with this API key. Try again in %(seconds)s seconds.") % {"seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


def scope_require(request, scope: str) -> None:
    """For a part of an endpoint that needs a further scope (a 403 problem without it)."""
    if scope not in request.auth.scopes:
        raise ApiKeyError(f"this API key lacks the scope {scope}", status=403)


class ApiKeyBearer(HttpBearer):
    """``Authorization: Bearer <key>`` holding ``scope``; refusals become 401/403 problems."""

    def __init__(self, scope: str):
        super().__init__()
        self.scope = scope

    def __call__(self, request) -> ApiKey:
        key = api_key_authenticate(authorization=request.headers.get("Authorization", ""), scope=self.scope)
        api_rate_limit_check(request, api_key=key)
        return key

    def authenticate(self, request, token):  # pragma: no cover - __call__ does the whole check
        raise NotImplementedError


SUBSCRIBERS_READ = ApiKeyBearer("subscribers:read")
SUBSCRIBERS_WRITE = ApiKeyBearer("subscribers:write")
SUBSCRIBERS_EXPORT = ApiKeyBearer("subscribers:export")
SUBSCRIBERS_ERASE = ApiKeyBearer("subscribers:erase")
LISTS_READ = ApiKeyBearer("lists:read")
SEGMENTS_READ = ApiKeyBearer("segments:read")
CAMPAIGNS_READ = ApiKeyBearer("campaigns:read")
SURVEYS_READ = ApiKeyBearer("surveys:read")
AUTOMATIONS_ENROL = ApiKeyBearer("automations:enrol")
OFFERS_REDEEM = ApiKeyBearer("offers:redeem")
"""Registered by the offers app, whose ``POST /api/offers/redeem`` came first."""
SUBSCRIBERS_IMPORT = "subscribers:import"
"""Checked inside ``POST /subscribers/`` when the body names a documented consent basis."""
