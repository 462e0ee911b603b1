"""Absolute links that every mail to a subscriber carries."""

from django.conf import settings
from django.urls import reverse

from subscribers.models import Subscriber
from subscribers.tokens import SubscriberTokens, make_data_link_token, make_subscriber_token


def _absolute(name: str, token: str) -> str:
    return settings.SITE_URL + reverse(name, kwargs={"token": token})


def _token(subscriber: Subscriber, purpose: str) -> str:
    return make_subscriber_token(
        public_id=subscriber.public_id, token_version=subscriber.token_version, purpose=purpose
    )


def preferences_token(subscriber: Subscriber) -> str:
    return _token(subscriber, "preferences")


def unsubscribe_token(subscriber: Subscriber) -> str:
    return _token(subscriber, "unsubscribe")


def preferences_url(subscriber: Subscriber) -> str:
    return _absolute("subscribers:preferences", preferences_token(subscriber))


def unsubscribe_url(subscriber: Subscriber) -> str:
    return _absolute("subscribers:unsubscribe", unsubscribe_token(subscriber))


def one_click_unsubscribe_url(subscriber: Subscriber) -> str:
    return _absolute("subscribers:one_click_unsubscribe", unsubscribe_token(subscriber))


def data_link_url(*, subscriber: Subscriber, action: str) -> str:
    """The one-time link to export (``"export"``) or erase (``"erase"``) a subscriber's data. It goes
    only into a mail to the subscriber's own address."""
    name = "subscribers:data_export" if action == "export" else "subscribers:data_erase"
    token = make_data_link_token(subscriber=subscriber, action=action)
    return settings.SITE_URL + reverse(name, kwargs={"public_id": subscriber.public_id, "token": token})


class MailLinks:
    """The same links for many messages, with URL prefixes resolved and signing keys derived once.

    ``reverse()`` and building a ``Signer`` cost more than the signing itself; a campaign batch
    needs these links for hundreds of subscribers in a row.
    """

    _PLACEHOLDER = "TOKENPLACEHOLDER"

    def __init__(self):
        self._unsubscribe_tokens = SubscriberTokens("unsubscribe")
        self._preferences_tokens = SubscriberTokens("preferences")
        self._unsubscribe = self._split("subscribers:unsubscribe")
        self._one_click = self._split("subscribers:one_click_unsubscribe")
        self._preferences = self._split("subscribers:preferences")
        # Nothing reads an unsubscribe mailbox unless the operator names one; RFC 8058 needs none.
        self._mailbox = settings.KANAL_UNSUBSCRIBE_MAILTO
        self._mailto_tokens = SubscriberTokens("mailto-unsubscribe") if self._mailbox else None

    def _split(self, name: str) -> tuple[str, str]:
        before, after = _absolute(name, self._PLACEHOLDER).split(self._PLACEHOLDER)
        return before, after

    def for_subscriber(self, subscriber) -> tuple[str, str, str]:
        """(unsubscribe URL, preference-centre URL, List-Unsubscribe header value) for a subscriber (a
        model instance or any row with ``public_id`` and ``token_version``). The header names the
        one-click https target, and a mailto only when KANAL_UNSUBSCRIBE_MAILTO is set, whose token
        can do nothing but unsubscribe."""
        public_id, version = subscriber.public_id, subscriber.token_version
        token = self._unsubscribe_tokens.sign(public_id, version)
        header = f"<{self._one_click[0]}{token}{self._one_click[1]}>"
        if self._mailto_tokens is not None:
            header += f", <mailto:{self._mailbox}?subject=unsubscribe%20{self._mailto_tokens.sign(public_id, version)}>"
        return (
            self._unsubscribe[0] + token + self._unsubscribe[1],
            self._preferences[0] + self._preferences_tokens.sign(public_id, version) + self._preferences[1],
            header,
        )
