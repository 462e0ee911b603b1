from collections.abc import Iterator
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from subscribers import tokens
from subscribers.models import (
    ConfirmationMail,
    ConsentText,
    ImportProblem,
    MailingList,
    Subscriber,
    SubscriberImport,
    SuppressedAddress,
    email_hash,
)


def public_list_get(*, slug: str) -> MailingList:
    return MailingList.objects.get(slug=slug, is_public=True)


def consent_text_current(*, language: str) -> ConsentText | None:
    """The newest consent wording in ``language``, else the newest in any language."""
    texts = ConsentText.objects.order_by("-version")
    return texts.filter(language=language).first() or texts.first()


def confirmation_mails_sent_recently(*, subscriber_id: int, within: timedelta = timedelta(days=1)) -> int:
    since = timezone.now() - within
    return ConfirmationMail.objects.filter(subscription__subscriber_id=subscriber_id, queued_at__gte=since).count()


def address_is_suppressed(*, email: str) -> bool:
    return SuppressedAddress.objects.filter(email_hash=email_hash(email)).exists()


def subscriber_by_public_id(*, public_id: str) -> Subscriber | None:
    try:
        return Subscriber.objects.filter(public_id=public_id).first()
    except ValidationError:
        return None


def subscriber_by_data_link(*, public_id, action: str, token: str) -> Subscriber | None:
    """The subscriber a live one-time data link names, or None when it is forged, spent or too old."""
    subscriber = subscriber_by_public_id(public_id=str(public_id))
    if subscriber is None or not tokens.check_data_link_token(subscriber=subscriber, action=action, token=token):
        return None
    return subscriber


def address_may_receive_mail(*, email: str) -> bool:
    """False for an address that hard-bounced, complained or was blocked by staff.

    An address suppressed only because it was erased may sign up again with double opt-in.
    """
    blocking_reasons = (
        SuppressedAddress.Reason.BOUNCED,
        SuppressedAddress.Reason.COMPLAINED,
        SuppressedAddress.Reason.MANUAL,
    )
    if SuppressedAddress.objects.filter(email_hash=email_hash(email), reason__in=blocking_reasons).exists():
        return False
    blocking_statuses = (Subscriber.Status.BOUNCED, Subscriber.Status.COMPLAINED)
    return not Subscriber.objects.filter(email=(email or "").strip().lower(), status__in=blocking_statuses).exists()


def consent_text_version(*, language: str, version) -> ConsentText | None:
    """The consent wording with this version number, e.g. the one an embedded form was copied with."""
    try:
        version = int(version)
    except (TypeError, ValueError):
        return None
    if not 0 < version < 2**31:
        return None
    return ConsentText.objects.filter(language=language, version=version).first()


def import_report_rows(*, subscriber_import: SubscriberImport) -> Iterator[list]:
    """The per-row report of an import: a header, then each stored problem row, read in chunks."""
    yield ["row", "email", "problem"]
    problems = subscriber_import.problems.order_by("row_number").values_list("row_number", "email", "reason")
    for row_number, email, reason in problems.iterator(chunk_size=2000):
        yield [row_number, email, ImportProblem.describe(reason)]


def import_problem_counts(*, subscriber_import: SubscriberImport) -> list[tuple[str, int]]:
    """(problem in words, rows) for every problem of an import, the most frequent first."""
    counts = sorted(subscriber_import.problem_counts.items(), key=lambda item: (-item[1], item[0]))
    return [(ImportProblem.describe(reason), count) for reason, count in counts]
