import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api import services
from api.models import ApiKey

pytestmark = pytest.mark.django_db

SCOPE = "offers:redeem"


def bearer(raw_key: str) -> str:
    return f"Bearer {raw_key}"


def test_a_new_key_is_kept_only_as_its_hash_and_prefix():
    key, raw_key = services.api_key_create(name="Shop", scopes=[SCOPE])
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw_key.startswith(f"kanal_{stored.prefix}_")
    assert stored.hashed_key == hashlib.sha256(raw_key.encode()).hexdigest()
    secret = raw_key.rsplit("_", 1)[1]
    assert all(secret not in str(value) for value in ApiKey.objects.values_list().get(pk=key.pk))


def test_a_key_opens_its_scope():
    key, raw_key = services.api_key_create(name="Shop", scopes=[SCOPE])
    assert services.api_key_authenticate(authorization=bearer(raw_key), scope=SCOPE) == key


def test_a_key_without_the_scope_is_forbidden_not_unknown():
    _key, raw_key = services.api_key_create(name="Shop", scopes=[SCOPE])
    with pytest.raises(services.ApiKeyError) as refused:
        services.api_key_authenticate(authorization=bearer(raw_key), scope="subscribers:write")
    assert refused.value.status == 403


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer kanal_", "Basic dXNlcjpwdw==", "Bearer kanal_deadbeef_nothing", "kanal_x"],
)
def test_missing_or_made_up_keys_are_refused_as_401(authorization):
    services.api_key_create(name="Shop", scopes=[SCOPE])
    with pytest.raises(services.ApiKeyError) as refused:
        services.api_key_authenticate(authorization=authorization, scope=SCOPE)
    assert refused.value.status == 401


def test_a_known_prefix_with_a_wrong_secret_is_refused():
    _key, raw_key = services.api_key_create(name="Shop", scopes=[SCOPE])
    with pytest.raises(services.ApiKeyError) as refused:
        services.api_key_authenticate(authorization=bearer(raw_key[:-2] + "xx"), scope=SCOPE)
    assert refused.value.status == 401


def test_an_expired_key_is_refused():
    _key, raw_key = services.api_key_create(
        name="Shop", scopes=[SCOPE], expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(services.ApiKeyError) as refused:
        services.api_key_authenticate(authorization=bearer(raw_key), scope=SCOPE)
    assert refused.value.status == 401


def test_a_revoked_key_is_refused():
    key, raw_key = services.api_key_create(name="Shop", scopes=[SCOPE])
    services.api_key_revoke(key=key)
    with pytest.raises(services.ApiKeyError) as refused:
        services.api_key_authenticate(authorization=bearer(raw_key), scope=SCOPE)
    assert refused.value.status == 401


def test_use_is_recorded_at_most_once_a_minute():
    key, raw_key = services.api_key_create(name="Shop", scopes=[SCOPE])
    services.api_key_authenticate(authorization=bearer(raw_key), scope=SCOPE)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    services.api_key_authenticate(authorization=bearer(raw_key), scope=SCOPE)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first


def test_unknown_scopes_cannot_be_granted():
    with pytest.raises(ValueError):
        services.api_key_create(name="Shop", scopes=["everything"])


def test_the_admin_shows_a_new_key_once(admin_client, in_english):
    response = admin_client.post(
        reverse("admin:api_apikey_add"), {"name": "Shop", "scopes": [SCOPE], "expires_at": ""}, follow=True
    )
    key = ApiKey.objects.get()
    shown = [str(message) for message in response.context["messages"]]
    raw_key = next(text for text in shown if "kanal_" in text).rsplit(" ", 1)[1]
    assert services.api_key_authenticate(authorization=bearer(raw_key), scope=SCOPE) == key
    assert key.created_by is not None
    page = admin_client.get(reverse("admin:api_apikey_change", args=[key.pk])).content.decode()
    assert key.prefix in page and raw_key not in page


def test_revoking_in_the_admin_stops_the_key(admin_client):
    key, raw_key = services.api_key_create(name="Shop", scopes=[SCOPE])
    admin_client.post(reverse("admin:api_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]})
    with pytest.raises(services.ApiKeyError):
        services.api_key_authenticate(authorization=bearer(raw_key), scope=SCOPE)


def test_the_key_read_by_hand_written_sql_is_the_row_the_orm_reads():
    expires = timezone.now() + timedelta(days=3)
    key, raw_key = services.api_key_create(name="Shop", scopes=[SCOPE], expires_at=expires)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(seconds=30))
    found = services.api_key_authenticate(authorization=bearer(raw_key), scope=SCOPE)
    stored = ApiKey.objects.get(pk=key.pk)
    fields = [field.attname for field in ApiKey._meta.concrete_fields]
    assert [getattr(found, name) for name in fields] == [getattr(stored, name) for name in fields]
    assert found.expires_at == expires and timezone.is_aware(found.expires_at) and found.scopes == [SCOPE]
