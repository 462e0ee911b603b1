"""What the pixel and click endpoints do, shared by the Django views and the lean WSGI path.

Verify the token, hand one line to Redis, answer. Nothing from the request decides where a click
goes: the target is the stored TrackedLink's URL, looked up in process memory, then the
database, then (if the database is away) Redis. A token that does not verify writes nothing.
"""

import logging
from enum import Enum

from django.db import DatabaseError
from django.utils.encoding import iri_to_uri

from tracking import event_queue, extensions, tokens
from tracking.models import TrackedLink
from tracking.services.events import event_record

logger = logging.getLogger(__name__)

# The smallest transparent GIF: 1×1, one transparent colour, 43 bytes.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = "no-store, no-cache, must-revalidate, max-age=0, private"
PIXEL_HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(GIF))),
    ("Cache-Control", NO_STORE),
    ("Pragma", "no-cache"),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("X-Content-Type-Options", "nosniff"),
]
REDIRECT_SCHEMES = ("http://", "https://", "mailto:")


class Click(Enum):
    REDIRECT = 302
    HONEYPOT = 204  # a browser stays on the page; a scanner gets nothing to follow
    NOT_FOUND = 404
    UNAVAILABLE = 503


def pixel_hit(*, token: str, head: bool, user_agent: str, ip: str) -> bool:
    """Record an open. False (and nothing written) when the token is not a valid pixel token."""
    delivery_id = tokens.verify_open(token)
    campaign_id = message_id = 0
    if delivery_id is None:
        delivery_id = 0
        if (found := tokens.verify_anonymous_open(token)) is not None:
            campaign_id = found
        elif (found := tokens.verify_message_open(token)) is not None:
            message_id = found
        else:
            return False
    event_record(
        event_queue.event_line(
            kind=event_queue.OPEN,
            delivery_id=delivery_id,
            campaign_id=campaign_id,
            message_id=message_id,
            head=head,
            ip_hash=tokens.ip_hash(ip),
            user_agent=user_agent,
        )
    )
    return True


def click_hit(*, token: str, head: bool, user_agent: str, ip: str) -> tuple[Click, str]:
    """Record a click and say where it goes: (outcome, Location header value or "")."""
    delivery_id = campaign_id = link_id = message_id = 0
    kind = event_queue.CLICK
    if len(token) == tokens.LONG_LENGTH:
        ids = tokens.verify_click(token)
        if ids is not None:
            delivery_id, link_id = ids
        elif (ids := tokens.verify_message_click(token)) is not None:
            message_id, link_id = ids
        else:
            return Click.NOT_FOUND, ""
    elif (found := tokens.verify_anonymous_click(token)) is not None:
        link_id = found
    elif (found := tokens.verify_honeypot(token)) is not None:
        kind, delivery_id = event_queue.HONEYPOT, found
    elif (found := tokens.verify_anonymous_honeypot(token)) is not None:
        kind, campaign_id = event_queue.HONEYPOT, found
    elif (found := tokens.verify_message_honeypot(token)) is not None:
        kind, message_id = event_queue.HONEYPOT, found
    else:
        return Click.NOT_FOUND, ""

    location = ""
    if kind == event_queue.CLICK:
        try:
            location = message_link_location(message_id, link_id) if message_id else link_location(link_id)
        except DatabaseError:
            return Click.UNAVAILABLE, ""
        if not location:
            return Click.NOT_FOUND, ""
    event_record(
        event_queue.event_line(
            kind=kind,
            delivery_id=delivery_id,
            campaign_id=campaign_id,
            link_id=link_id,
            message_id=message_id,
            head=head,
            ip_hash=tokens.ip_hash(ip),
            user_agent=user_agent,
        )
    )
    return (Click.REDIRECT, location) if location else (Click.HONEYPOT, "")


def link_location(link_id: int) -> str:
    """The Location header for a stored link, "" if there is no such link (or it is not a web or mail link).

    Raises DatabaseError only when neither the database nor Redis knows the link.
    """
    location = event_queue.link_targets.get(link_id)
    if location is not None:
        return location
    try:
        url = TrackedLink.objects.filter(pk=link_id).values_list("url", flat=True).first()
    except DatabaseError:
        url = event_queue.link_target_from_redis(link_id)
        if url is None:
            raise
        logger.warning("Database unavailable; redirected link %s from the copy in Redis", link_id)
    if url is None:
        return ""
    location = _location(url)
    event_queue.link_targets.put(link_id, location)
    return location


def message_link_location(message_id: int, position: int) -> str:
    """The Location header for a link of a transactional message (asked of its app each time:
    these mails are few), "" if there is no such link. Raises DatabaseError when the database is away."""
    source = extensions.message_source()
    url = source.message_link_target(message_id=message_id, position=position) if source is not None else None
    return _location(url) if url is not None else ""


def _location(url: str) -> str:
    """A stored target as a Location value: web and mail links only, never a header break."""
    location = iri_to_uri(url) if url.lower().startswith(REDIRECT_SCHEMES) else ""
    if "\r" in location or "\n" in location:
        location = ""
    return location
