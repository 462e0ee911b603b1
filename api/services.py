"""Creating, revoking and checking API keys; purging their Idempotency-Keys."""

import secrets
from datetime import timedelta
from functools import cache

from django.db import connection, transaction
from django.utils import timezone

from api.models import ApiKey, IdempotencyKey, key_hash
from api.scopes import SCOPES
from newsletter_site.raw_rows import RowReader, select_list, table

KEY_PREFIX = "kanal_"
IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=24)
PREFIX_CHARS = 8
# last_used_at is written at most this often per key, so a busy shop does not write on every call.
LAST_USE_RESOLUTION = timedelta(minutes=1)


class ApiKeyError(Exception):
    """Why a request's key is refused; ``status`` is 401 (no or bad key) or 403 (wrong scope)."""

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.status = status


@transaction.atomic
def api_key_create(*, name: str, scopes: list[str], expires_at=None, created_by=None) -> tuple[ApiKey, str]:
    """A new key and its secret text, which exists only in the return value: show it once."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"Unknown or no scopes: {sorted(unknown)!r}")
    while True:
        prefix = secrets.token_hex(PREFIX_CHARS // 2)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    raw_key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        name=name,
        prefix=prefix,
        hashed_key=key_hash(raw_key),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        created_by=created_by,
    )
    key.full_clean()
    key.save()
    return key, raw_key


def api_key_revoke(*, key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


def _prefix_of(raw_key: str) -> str:
    if not raw_key.startswith(KEY_PREFIX):
        return ""
    prefix, _sep, secret = raw_key.removeprefix(KEY_PREFIX).partition("_")
    return prefix if len(prefix) == PREFIX_CHARS and secret else ""


@cache
def _key_query() -> tuple[str, RowReader]:
    sql = f"SELECT {select_list(ApiKey, 'k')} FROM {table(ApiKey)} k WHERE k.prefix = %s"  # noqa: S608
    return sql, RowReader(ApiKey)


def _key_by_prefix(prefix: str) -> ApiKey | None:
    """Hand-written SQL: on every API call, and the ORM's compilation cost more than the lookup."""
    sql, reader = _key_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix])
        row = cursor.fetchone()
    return reader.read(row) if row else None


def api_key_authenticate(*, authorization: str, scope: str) -> ApiKey:
    """The live key in an ``Authorization: Bearer …`` header that holds ``scope``, or ApiKeyError.

    Every refusal for a missing, unknown, revoked or expired key reads the same (401), so the
    answer tells a caller nothing about which keys exist.
    """
    scheme, _sep, raw_key = authorization.strip().partition(" ")
    raw_key = raw_key.strip()
    prefix = _prefix_of(raw_key) if scheme.lower() == "bearer" else ""
    key = _key_by_prefix(prefix) if prefix else None
    now = timezone.now()
    if key is None or not secrets.compare_digest(key.hashed_key, key_hash(raw_key)) or not key.is_active(now):
        raise ApiKeyError("invalid or missing API key", status=401)
    if scope not in key.scopes:
        raise ApiKeyError(f"this API key lacks the scope {scope}", status=403)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USE_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def idempotency_keys_purge(*, now=None) -> int:
    """Delete keys older than their lifetime; returns how many."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_KEY_LIFETIME
    deleted, _details = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def idempotency_keys_forget_subscriber(subscriber) -> None:
    """GDPR erase hook: stored answers about the subscriber hold their address; drop them."""
    IdempotencyKey.objects.filter(response_body__id=str(subscriber.public_id)).delete()
