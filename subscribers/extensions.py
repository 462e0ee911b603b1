"""Seams through which higher apps add to the sign-up form and the preference centre; subscribers
imports none of them. They register in their ``AppConfig.ready()`` (``campaigns.extensions.register``
works for these lists too).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.http import HttpRequest, QueryDict

MAX_HIDDEN_VALUE = 500


@dataclass(frozen=True)
class SignupExtra:
    """A value that rides along through the sign-up page into the sign-up's consent record.

    The page takes ``field`` from its query string (``?<field>=…``) into a hidden input, so a GET
    stores nothing. On POST, ``details(request, value, mailing_list)`` checks the posted value and
    returns what to add to the ``details`` of the sign-up's consent record, or None to add nothing
    (a bad value never stops a sign-up). ``script``, a static path, is loaded by the page when
    the value is present.
    """

    field: str
    details: Callable[..., dict | None]
    script: str = ""


SIGNUP_EXTRAS: list[SignupExtra] = []


@dataclass(frozen=True)
class PreferenceSection:
    """A block of HTML on a subscriber's preference page, and cookies to set with the page
    (name -> (signed value, max age in seconds)); setting a cookie stores nothing on the server."""

    html: str
    cookies: dict[str, tuple[str, int]] = field(default_factory=dict)


PREFERENCE_SECTIONS: list[Callable[[HttpRequest, object], PreferenceSection | None]] = []
"""Called as ``section(request, subscriber)`` on every preference page; None adds nothing."""


SUBSCRIBER_ADMIN_INLINES: list[type] = []
"""Read-only admin inlines (a ``ModelAdmin`` inline class whose model has a foreign key to
``Subscriber``) that higher apps add to the subscriber's admin page, after its own; each shows
only to staff who may view its model, as any inline."""


def signup_hidden_fields(data: QueryDict, *, first_view: bool) -> list[tuple[str, str, str]]:
    """(name, value, script) of the hidden inputs the sign-up form carries: from the query string on
    GET (``first_view``, with the script), from the form itself when it is shown again after an error."""
    return [
        (extra.field, data[extra.field][:MAX_HIDDEN_VALUE], extra.script if first_view else "")
        for extra in SIGNUP_EXTRAS
        if isinstance(data.get(extra.field), str) and data.get(extra.field)
    ]


def signup_details(request: HttpRequest, mailing_list) -> dict:
    """What the registered extras add to the consent record of a posted sign-up."""
    details = {}
    for extra in SIGNUP_EXTRAS:
        value = request.POST.get(extra.field, "")
        if value:
            details.update(extra.details(request, value[:MAX_HIDDEN_VALUE], mailing_list) or {})
    return details


def preference_sections(request: HttpRequest, subscriber) -> list[PreferenceSection]:
    found = (section(request, subscriber) for section in PREFERENCE_SECTIONS)
    return [section for section in found if section is not None]
