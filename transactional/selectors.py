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
