"""Bot checks for the public sign-up: a signed form-start time, and ALTCHA proof of work when configured."""

import base64
import binascii
import json
import logging
import time

import altcha
from django.conf import settings
from django.core import signing
from django.core.cache import cache

logger = logging.getLogger(__name__)

FORM_STARTED_SALT = "kanal.subscribers.form-started"
# A form open longer than this gets a fresh start instead of a silent drop.
FORM_MAX_AGE_SECONDS = 24 * 3600

ALTCHA_ALGORITHM = "PBKDF2/SHA-256"
# PBKDF2 iterations per attempt; with the default key prefix "00" a browser needs about 256 attempts.
ALTCHA_COST = 5_000
ALTCHA_TTL_SECONDS = 20 * 60
ALTCHA_PAYLOAD_MAX_LENGTH = 4_000
ALTCHA_USED_KEY = "altcha-used:{signature}"


def min_fill_seconds() -> float:
    return settings.KANAL_SIGNUP_MIN_FILL_SECONDS


def form_started_token(*, now: float | None = None) -> str:
    """A hidden-field value recording when the form was rendered."""
    return signing.dumps({"t": round(now if now is not None else time.time(), 3)}, salt=FORM_STARTED_SALT)


def form_age_seconds(token: str) -> float | None:
    """Seconds since ``token`` was made, or None when it is missing, forged or malformed."""
    if not token or len(token) > 200:
        return None
    try:
        started = signing.loads(token, salt=FORM_STARTED_SALT)["t"]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    if not isinstance(started, int | float):
        return None
    return time.time() - started


def altcha_enabled() -> bool:
    return bool(settings.KANAL_ALTCHA_HMAC_KEY)


def altcha_challenge_create() -> dict:
    """A signed, expiring proof-of-work challenge for the ALTCHA widget (as JSON-able dict)."""
    challenge = altcha.create_challenge(
        algorithm=ALTCHA_ALGORITHM,
        cost=ALTCHA_COST,
        expires_at=int(time.time()) + ALTCHA_TTL_SECONDS,
        hmac_secret=settings.KANAL_ALTCHA_HMAC_KEY,
    )
    return challenge.to_dict()


def altcha_payload_verify(payload: str) -> bool:
    """Whether ``payload`` solves a challenge Kanal issued, in time, for the first time.

    A verified challenge is remembered in the cache until it expires, so a solved payload
    cannot be replayed for a second sign-up.
    """
    if not payload or len(payload) > ALTCHA_PAYLOAD_MAX_LENGTH:
        return False
    try:
        result = altcha.verify_solution(payload, hmac_secret=settings.KANAL_ALTCHA_HMAC_KEY)
        challenge = json.loads(base64.b64decode(payload))["challenge"]
        signature = str(challenge["signature"])
        expires_at = int(challenge["parameters"]["expiresAt"])
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return False
    if not result.verified:
        return False
    remaining = expires_at - int(time.time())
    if remaining <= 0:
        return False
    # cache.add is atomic (SET NX on Redis): only the first of two concurrent uses wins.
    if not cache.add(ALTCHA_USED_KEY.format(signature=signature), 1, timeout=remaining + 5):
        logger.info("Replayed ALTCHA payload refused")
        return False
    return True
