"""Consent proof as a CSV a lawyer or court can read: one row per consent record."""

from collections.abc import Iterable, Iterator

from django.db.models import QuerySet

from subscribers.models import ConsentRecord, MailingList, Subscriber

COLUMNS = [
    "occurred_at",
    "email",
    "mailing_list",
    "action",
    "ip_address",
    "user_agent",
    "source_url",
    "consent_text_version",
    "consent_text_shown",
    "basis",
    "staff_member",
    "details",
]


def consent_records_for(
    *,
    subscriber: Subscriber | None = None,
    mailing_list: MailingList | None = None,
    subscribers: QuerySet | None = None,
    mailing_lists: QuerySet | None = None,
) -> QuerySet:
    records = ConsentRecord.objects.select_related("subscriber", "mailing_list", "consent_text", "actor")
    if subscriber is not None:
        records = records.filter(subscriber=subscriber)
    if mailing_list is not None:
        records = records.filter(mailing_list=mailing_list)
    if subscribers is not None:
        records = records.filter(subscriber__in=subscribers)
    if mailing_lists is not None:
        records = records.filter(mailing_list__in=mailing_lists)
    return records.order_by("occurred_at", "pk")


def _row(record: ConsentRecord) -> list:
    return [
        record.occurred_at,
        record.subscriber.email if record.subscriber else "",
        record.mailing_list.name if record.mailing_list else "",
        record.get_action_display(),
        record.ip_address or "",
        record.user_agent,
        record.source_url,
        str(record.consent_text.version) if record.consent_text else "",
        record.consent_text_shown,
        record.basis,
        record.actor.get_username() if record.actor else "",
        "; ".join(f"{key}={value}" for key, value in sorted(record.details.items())),
    ]


def consent_records_rows(records: Iterable[ConsentRecord]) -> Iterator[list]:
    """The header, then one row per record; a queryset is read in chunks, so a long history streams."""
    yield COLUMNS
    for record in records.iterator() if isinstance(records, QuerySet) else records:
        yield _row(record)
