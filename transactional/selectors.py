"""Reads of transactional templates and messages."""

from django.conf import settings
from django.db.models import Count, Q

from subscribers.models import Subscriber, SuppressedAddress, email_hash
from transactional.models import TransactionalMessage, TransactionalTemplate


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
    """Each template with how many of its messages are in each status (the admin's list)."""
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
        }
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
