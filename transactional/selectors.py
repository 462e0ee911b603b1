"""Reads of transactional templates and messages."""

from django.conf import settings
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce

from subscribers.models import Subscriber, SuppressedAddress, email_hash
from tracking.extensions import MessageFacts
from transactional.models import TransactionalLink, TransactionalMessage, TransactionalTemplate


def template_for(*, slug: str, language: str | None = None) -> TransactionalTemplate | None:
    """The template ``slug`` in ``language``; without that translation (or a language), the one in
    the site's language, else the first there is; None for an unknown slug."""
    templates = list(TransactionalTemplate.objects.filter(slug=slug))
    for wanted in (language, settings.LANGUAGE_CODE.split("-")[0]):
        for template in templates:
            if wanted and template.language == wanted:
                return template
    return templates[0] if templates else None


def suppression_reason(*, email: str) -> str:
    """Why the address is on the suppression list (a ``SuppressedAddress.Reason``), or ""."""
    return SuppressedAddress.objects.filter(email_hash=email_hash(email)).values_list("reason", flat=True).first() or ""


def subscriber_for_address(*, email: str) -> Subscriber | None:
    return Subscriber.objects.filter(email=email).first()


def template_figures():
    """Each template with how many of its messages are in each status, how many went out tracked,
    and people's unique opens and clicks of those (the admin's list and page)."""
    status = TransactionalMessage.Status
    return TransactionalTemplate.objects.annotate(
        **{
            f"{name}_count": Count("messages", filter=Q(messages__status=value))
            for name, value in (
                ("queued", status.QUEUED),
                ("sending", status.SENDING),
                ("sent", status.SENT),
                ("failed", status.FAILED),
                ("suppressed", status.SUPPRESSED),
            )
        },
        tracked_count=Count("messages", filter=Q(messages__status=status.SENT, messages__tracked=True)),
        human_opens=Coalesce(F("figures__unique_opens"), 0),
        human_clicks=Coalesce(F("figures__unique_clicks"), 0),
    )


def subscriber_transactional_export(subscriber: Subscriber) -> tuple[str, list[dict]]:
    """The GDPR export section: the transactional mails to this person (by link or by address)."""
    rows = (
        TransactionalMessage.objects.filter(Q(subscriber=subscriber) | Q(email=subscriber.email))
        .select_related("template")
        .order_by("created_at")
    )
    return "transactional_mails", [
        {
            "template": message.template.name,
            "status": message.status,
            "created_at": message.created_at.isoformat(),
            "sent_at": message.sent_at.isoformat() if message.sent_at else None,
            "merge_data": message.data,
        }
        for message in rows
    ]


def message_tracking_facts(*, message_ids) -> dict[int, MessageFacts]:
    """For the tracking batcher: when each message went out, and whether an event of it may be stored
    now (it went out tracked, its template still tracks, its recipient still allows tracking)."""
    rows = TransactionalMessage.objects.filter(pk__in=list(message_ids)).values_list(
        "pk", "sent_at", "tracked", "template__track_opens_clicks", "subscriber__tracking_consent"
    )
    return {
        pk: MessageFacts(sent_at=sent_at, trackable=bool(tracked and template_tracks and consent))
        for pk, sent_at, tracked, template_tracks, consent in rows
    }


def message_link_target(*, message_id: int, position: int) -> str | None:
    return (
        TransactionalLink.objects.filter(message_id=message_id, position=position).values_list("url", flat=True).first()
    )
