"""The REST API's authentication: the api app's one key check, then the per-key rate limit."""

import time
import zlib

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from api.models import ApiKey
from api.rest.problems import Problem
from api.services import ApiKeyError, api_key_authenticate

RATE_WINDOW_SECONDS = 60


def _window_end(api_key: ApiKey, now: int) -> int:
    """When the key's current window ends; each key's windows turn at its own second of the minute."""
    end = now - now % RATE_WINDOW_SECONDS + zlib.crc32(str(api_key.pk).encode()) % RATE_WINDOW_SECONDS
    return end if end > now else end + RATE_WINDOW_SECONDS


def api_rate_limit_check(request, *, api_key: ApiKey) -> None:
    """A fixed window of one minute per key, counted in the cache (Redis); 429 with Retry-After.

    One round trip: the window's counter is created (with its expiry) and incremented in one pipeline.
    """
    now = int(time.time())
    window_end = _window_end(api_key, now)
    key = cache.make_and_validate_key(f"api-rate:{api_key.pk}:{window_end}")
    client = cache._cache.get_client(key, write=True)  # Django's RedisCache: its redis-py client
    with client.pipeline(transaction=False) as pipeline:
        pipeline.set(key, 0, ex=RATE_WINDOW_SECONDS + 1, nx=True)
        pipeline.incr(key)
        _created, count = pipeline.execute()
    if count > settings.KANAL_API_RATE_PER_MINUTE:
        retry_after = max(1, window_end - now)
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
