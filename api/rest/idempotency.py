"""``Idempotency-Key`` on POST and PATCH: one execution per key, its answer replayed for 24 hours."""

import hashlib
import json
from collections.abc import Callable
from functools import partial

from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from api.models import IdempotencyKey
from api.rest.problems import Problem
from api.services import IDEMPOTENCY_KEY_LIFETIME

MAX_KEY_LENGTH = 255


def _request_hash(request) -> str:
    try:
        body = json.dumps(json.loads(request.body or b"null"), sort_keys=True, separators=(",", ":"))
    except (ValueError, UnicodeDecodeError):
        body = request.body.decode("latin-1")
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def idempotent(
    request, action: Callable[..., tuple[int, dict]], *, prepare: Callable[[], object] | None = None
) -> JsonResponse:
    """Run ``action`` (returns status and JSON body) in one transaction, at most once per key.

    A key whose answer is stored is replayed at once, without a transaction. Otherwise the claim
    row is inserted first, in the same transaction as ``action``: a concurrent request with the same
    key blocks on the unique constraint until the first one commits, then replays its answer. An
    ``action`` that fails (a problem) rolls the claim back, so the client may retry with the same
    key. A stored answer older than ``IDEMPOTENCY_KEY_LIFETIME`` is deleted when its key comes
    again, and the request runs anew.

    ``prepare``, if given, runs before the transaction (not for a replay) and its result is
    ``action``'s argument: reads there keep the write transaction short, which on SQLite holds
    the database's one write lock from its start.
    """
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > MAX_KEY_LENGTH:
        raise Problem(400, _("The Idempotency-Key header is longer than 255 characters."))
    request_hash = _request_hash(request) if key else ""
    stored = _stored(request, key) if key else None
    if stored is not None:
        return _replay(stored, request_hash=request_hash)
    run = action if prepare is None else partial(action, prepare())
    if not key:
        with transaction.atomic():
            status, body = run()
        return JsonResponse(body, status=status)
    for _attempt in range(2):
        claim = None
        try:
            # No savepoint for the claim: when its INSERT fails, the whole transaction is rolled
            # back before anything else ran in it.
            with transaction.atomic():
                claim = IdempotencyKey.objects.create(
                    api_key=request.auth, key=key, method=request.method, path=request.path, request_hash=request_hash
                )
                status, body = run()
                claim.response_status = status
                claim.response_body = body
                claim.save(update_fields=["response_status", "response_body"])
            return JsonResponse(body, status=status)
        except IntegrityError:
            if claim is not None:
                raise  # the action's own, not the key's
        stored = _stored(request, key)
        if stored is not None:
            return _replay(stored, request_hash=request_hash)
    raise Problem(409, _("A request with this Idempotency-Key is still running."))


def _stored(request, key: str) -> IdempotencyKey | None:
    """The live stored answer (or claim) for ``key``; an expired one is deleted."""
    stored = IdempotencyKey.objects.filter(api_key=request.auth, key=key).first()
    if stored is not None and stored.created_at < timezone.now() - IDEMPOTENCY_KEY_LIFETIME:
        IdempotencyKey.objects.filter(pk=stored.pk, created_at=stored.created_at).delete()
        return None
    return stored


def _replay(stored: IdempotencyKey, *, request_hash: str) -> JsonResponse:
    if stored.request_hash != request_hash:
        raise Problem(422, _("This Idempotency-Key was used with a different request."))
    if stored.response_status is None:
        raise Problem(409, _("A request with this Idempotency-Key is still running."))
    response = JsonResponse(stored.response_body, status=stored.response_status)
    response["Idempotent-Replayed"] = "true"
    return response
