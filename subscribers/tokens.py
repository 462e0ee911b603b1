"""Signed tokens in subscriber-facing links. Each purpose has its own salt, so a token made for
one link never opens another."""

from datetime import timedelta

from django.core import signing

CONFIRM_SALT = "kanal.subscribers.confirm"
SUBSCRIBER_SALTS = {
    "preferences": "kanal.subscribers.preferences",
    "unsubscribe": "kanal.subscribers.unsubscribe",
    "export": "kanal.subscribers.export",
}


class InvalidToken(Exception):
    """The token is malformed, forged, made for another purpose, or expired."""

    def __init__(self, message: str = "", *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def make_confirmation_token(*, subscription_id: int, nonce: str) -> str:
    return signing.dumps({"s": subscription_id, "n": nonce}, salt=CONFIRM_SALT, compress=True)


def read_confirmation_token(token: str, *, max_age: timedelta) -> tuple[int, str]:
    try:
        payload = signing.loads(token, salt=CONFIRM_SALT, max_age=max_age)
    except signing.SignatureExpired as error:
        raise InvalidToken("expired", expired=True) from error
    except signing.BadSignature as error:
        raise InvalidToken("bad signature") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), int) or not isinstance(payload.get("n"), str):
        raise InvalidToken("malformed payload")
    return payload["s"], payload["n"]


def make_subscriber_token(*, public_id, purpose: str) -> str:
    """A link token that does not expire: unsubscribe links in old mails must keep working."""
    return signing.Signer(salt=SUBSCRIBER_SALTS[purpose]).sign(str(public_id))


def read_subscriber_token(token: str, *, purpose: str) -> str:
    try:
        return signing.Signer(salt=SUBSCRIBER_SALTS[purpose]).unsign(token)
    except signing.BadSignature as error:
        raise InvalidToken("bad signature") from error
