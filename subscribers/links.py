"""Absolute links that every mail to a subscriber carries."""

from email.utils import parseaddr

from django.conf import settings
from django.urls import reverse

from subscribers.models import Subscriber
from subscribers.tokens import make_subscriber_token


def _absolute(name: str, token: str) -> str:
    return settings.SITE_URL + reverse(name, kwargs={"token": token})


def preferences_url(subscriber: Subscriber) -> str:
    return _absolute(
        "subscribers:preferences", make_subscriber_token(public_id=subscriber.public_id, purpose="preferences")
    )


def unsubscribe_url(subscriber: Subscriber) -> str:
    return _absolute(
        "subscribers:unsubscribe", make_subscriber_token(public_id=subscriber.public_id, purpose="unsubscribe")
    )


def one_click_unsubscribe_url(subscriber: Subscriber) -> str:
    return _absolute(
        "subscribers:one_click_unsubscribe",
        make_subscriber_token(public_id=subscriber.public_id, purpose="unsubscribe"),
    )


def list_unsubscribe_headers(subscriber: Subscriber) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe: an https target for the POST plus a mailto fallback."""
    token = make_subscriber_token(public_id=subscriber.public_id, purpose="unsubscribe")
    mailbox = settings.KANAL_UNSUBSCRIBE_MAILTO or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return {
        "List-Unsubscribe": (
            f"<{one_click_unsubscribe_url(subscriber)}>, <mailto:{mailbox}?subject=unsubscribe%20{token}>"
        ),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
