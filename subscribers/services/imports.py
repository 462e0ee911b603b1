# LEAD NOTE (temporary): the lead already wrote and committed this file while you were starting. Do not replace it; read it, extend it only if your task needs more, and say so in your report.
"""CSV import of subscribers: upload, column mapping, and the worker's chunked, re-playable run."""

import csv
import io
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from uuid import uuid4

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from newsletter_site.bulk import db_value, insert_rows
from subscribers.models import (
    ConfirmationMail,
    ConsentRecord,
    Language,
    MailingList,
    Subscriber,
    SubscriberImport,
    Subscription,
    SuppressedAddress,
    email_hash,
    normalise_email,
)

logger = logging.getLogger(__name__)

TARGET_FIELDS = ("email", "first_name", "last_name", "language")
HEADER_GUESSES = {
    "email": {"email", "e-mail", "e_mail", "mail", "email address", "e-mail-adresse", "emailadresse", "adresse"},
    "first_name": {"first name", "first_name", "firstname", "given name", "vorname"},
    "last_name": {"last name", "last_name", "lastname", "surname", "family name", "nachname", "name"},
    "language": {"language", "lang", "locale", "sprache"},
}
CHUNK_SIZE = 5000
PREVIEW_ROWS = 10
LANGUAGES = {code for code, _label in Language.choices}
NAME_LIMIT = Subscriber._meta.get_field("first_name").max_length
EMAIL_LIMIT = Subscriber._meta.get_field("email").max_length


class ImportFileError(Exception):
    """The file as a whole cannot be imported; the message says why, in the user's language."""


@dataclass
class ParsedFile:
    header: list[str]
    dialect: type[csv.Dialect] | csv.Dialect
    text: str

    def rows(self) -> Iterator[list[str]]:
        reader = csv.reader(io.StringIO(self.text), self.dialect)
        next(reader, None)
        return reader


@dataclass
class ChunkTally:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    report: list[tuple[int, str, str]] = field(default_factory=list)

    def skip(self, row_number: int, raw_email: str, reason: str) -> None:
        self.skipped += 1
        self.report.append((row_number, raw_email, reason))

    def error(self, row_number: int, raw_email: str, reason: str) -> None:
        self.errors += 1
        self.report.append((row_number, raw_email, reason))


def decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def parse_file(data: bytes) -> ParsedFile:
    if b"\x00" in data[:4096]:
        raise ImportFileError(_("This is not a CSV file (it contains binary data)."))
    text = decode(data)
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    sample = text[:65536]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    header = next(csv.reader(io.StringIO(sample), dialect), [])
    header = [column.strip() for column in header]
    if not any(header):
        raise ImportFileError(_("The first line must name the columns."))
    return ParsedFile(header=header, dialect=dialect, text=text)


def guess_mapping(header: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for target in TARGET_FIELDS:
        for column in header:
            if column.strip().lower() in HEADER_GUESSES[target] and column not in mapping.values():
                mapping[target] = column
                break
    return mapping


def preview(parsed: ParsedFile) -> list[list[str]]:
    rows = []
    for row in parsed.rows():
        rows.append(row)
        if len(rows) == PREVIEW_ROWS:
            break
    return rows


def subscriber_import_create(
    *,
    upload: UploadedFile,
    mailing_list: MailingList,
    tags,
    consent_basis: str,
    consent_source: str,
    created_by,
) -> SubscriberImport:
    """Store an uploaded CSV after checking it can be read; nothing is imported yet."""
    if upload.size > settings.KANAL_IMPORT_MAX_BYTES:
        raise ImportFileError(
            _("The file is larger than %(limit)s.") % {"limit": filesizeformat(settings.KANAL_IMPORT_MAX_BYTES)}
        )
    if consent_basis == SubscriberImport.ConsentBasis.DOCUMENTED and not consent_source.strip():
        raise ImportFileError(_("Say where the consent of these addresses is documented."))
    data = upload.read()
    parsed = parse_file(data)
    upload.seek(0)
    subscriber_import = SubscriberImport(
        original_name=upload.name[:255],
        mailing_list=mailing_list,
        consent_basis=consent_basis,
        consent_source=consent_source.strip(),
        column_mapping=guess_mapping(parsed.header),
        created_by=created_by,
    )
    subscriber_import.csv_file.save(f"{secrets.token_hex(8)}.csv", upload, save=False)
    subscriber_import.full_clean()
    subscriber_import.save()
    subscriber_import.tags.set(tags)
    return subscriber_import


def parsed_file_of(subscriber_import: SubscriberImport) -> ParsedFile:
    with subscriber_import.csv_file.open("rb") as handle:
        return parse_file(handle.read())


@transaction.atomic
def subscriber_import_start(*, subscriber_import: SubscriberImport, column_mapping: dict[str, str]) -> None:
    """Fix the column mapping and queue the import for the worker."""
    subscriber_import = SubscriberImport.objects.select_for_update().get(pk=subscriber_import.pk)
    if subscriber_import.status != SubscriberImport.Status.UPLOADED:
        return
    parsed = parsed_file_of(subscriber_import)
    if not column_mapping.get("email"):
        raise ImportFileError(_("Choose the column that holds the email addresses."))
    unknown = [column for column in column_mapping.values() if column and column not in parsed.header]
    if unknown:
        raise ImportFileError(_("Unknown column: %(column)s") % {"column": unknown[0]})
    subscriber_import.column_mapping = {target: column for target, column in column_mapping.items() if column}
    subscriber_import.total_rows = sum(1 for row in parsed.rows() if any(cell.strip() for cell in row))
    subscriber_import.status = SubscriberImport.Status.QUEUED
    subscriber_import.save(update_fields=["column_mapping", "total_rows", "status"])

    from subscribers.tasks import import_subscribers

    import_subscribers.delay_on_commit(subscriber_import.pk)


def subscriber_import_run(*, import_id: int) -> None:
    """Run a queued import in chunks. Safe to run again: every chunk is re-playable."""
    with transaction.atomic():
        subscriber_import = SubscriberImport.objects.select_for_update().filter(pk=import_id).first()
        if subscriber_import is None or subscriber_import.status not in (
            SubscriberImport.Status.QUEUED,
            SubscriberImport.Status.RUNNING,
        ):
            return
        subscriber_import.status = SubscriberImport.Status.RUNNING
        subscriber_import.started_at = subscriber_import.started_at or timezone.now()
        subscriber_import.processed_rows = 0
        subscriber_import.created_count = subscriber_import.updated_count = 0
        subscriber_import.skipped_count = subscriber_import.error_count = 0
        subscriber_import.save()
    try:
        parsed = parsed_file_of(subscriber_import)
        report = _run_chunks(subscriber_import, parsed)
    except ImportFileError as error:
        _finish(subscriber_import, status=SubscriberImport.Status.FAILED, failure_reason=str(error))
        return
    except Exception as error:
        logger.exception("Import %s failed", import_id)
        _finish(subscriber_import, status=SubscriberImport.Status.FAILED, failure_reason=repr(error))
        raise
    _finish(subscriber_import, status=SubscriberImport.Status.DONE, error_report=report)


def _finish(subscriber_import: SubscriberImport, *, status: str, failure_reason: str = "", error_report: str = ""):
    SubscriberImport.objects.filter(pk=subscriber_import.pk).update(
        status=status, failure_reason=failure_reason, error_report=error_report, finished_at=timezone.now()
    )


def _run_chunks(subscriber_import: SubscriberImport, parsed: ParsedFile) -> str:
    mapping = subscriber_import.column_mapping
    if mapping.get("email") not in parsed.header:
        raise ImportFileError(_("The file has no column “%(column)s”.") % {"column": mapping.get("email", "")})
    columns = {target: parsed.header.index(column) for target, column in mapping.items() if column in parsed.header}
    tag_ids = list(subscriber_import.tags.values_list("pk", flat=True))
    seen: set[str] = set()
    report_lines = io.StringIO()
    report_writer = csv.writer(report_lines)
    report_writer.writerow(["row", "email", "problem"])
    chunk: list[tuple[int, list[str]]] = []
    row_number = 1  # the header
    for row in parsed.rows():
        row_number += 1
        if not any(cell.strip() for cell in row):
            continue
        chunk.append((row_number, row))
        if len(chunk) == CHUNK_SIZE:
            _import_chunk(subscriber_import, chunk, columns, seen, tag_ids, report_writer)
            chunk = []
    if chunk:
        _import_chunk(subscriber_import, chunk, columns, seen, tag_ids, report_writer)
    return report_lines.getvalue()


def _cell(row: list[str], columns: dict[str, int], target: str) -> str:
    index = columns.get(target)
    return row[index].strip() if index is not None and index < len(row) else ""


def _import_chunk(subscriber_import, chunk, columns, seen, tag_ids, report_writer) -> None:
    tally = ChunkTally()
    valid: dict[str, dict] = {}
    for row_number, row in chunk:
        raw_email = _cell(row, columns, "email")
        email = normalise_email(raw_email)
        if not email:
            tally.error(row_number, raw_email, _("no email address"))
            continue
        if len(email) > EMAIL_LIMIT:
            tally.error(row_number, raw_email, _("email address too long"))
            continue
        try:
            validate_email(email)
        except ValidationError:
            tally.error(row_number, raw_email, _("not a valid email address"))
            continue
        if email in seen:
            tally.skip(row_number, raw_email, _("duplicate in this file"))
            continue
        seen.add(email)
        first_name, last_name = _cell(row, columns, "first_name"), _cell(row, columns, "last_name")
        if len(first_name) > NAME_LIMIT or len(last_name) > NAME_LIMIT:
            tally.error(row_number, raw_email, _("name longer than %(limit)d characters") % {"limit": NAME_LIMIT})
            continue
        language = _cell(row, columns, "language").lower()[:2]
        valid[email] = {
            "row_number": row_number,
            "raw_email": raw_email,
            "first_name": first_name,
            "last_name": last_name,
            "language": language if language in LANGUAGES else subscriber_import.mailing_list.language,
        }

    with transaction.atomic():
        _store_chunk(subscriber_import, valid, tally, tag_ids)
        SubscriberImport.objects.filter(pk=subscriber_import.pk).update(
            processed_rows=F("processed_rows") + len(chunk),
            created_count=F("created_count") + tally.created,
            updated_count=F("updated_count") + tally.updated,
            skipped_count=F("skipped_count") + tally.skipped,
            error_count=F("error_count") + tally.errors,
        )
    for line in sorted(tally.report):
        report_writer.writerow(line)


def _store_chunk(subscriber_import, valid: dict[str, dict], tally: ChunkTally, tag_ids: list[int]) -> None:
    documented = subscriber_import.consent_basis == SubscriberImport.ConsentBasis.DOCUMENTED
    mailing_list = subscriber_import.mailing_list
    now = timezone.now()

    hashes = {email_hash(email): email for email in valid}
    for suppressed_hash in SuppressedAddress.objects.filter(email_hash__in=hashes).values_list("email_hash", flat=True):
        email = hashes[suppressed_hash]
        entry = valid.pop(email)
        tally.skip(
            entry["row_number"], entry["raw_email"], _("on the suppression list (erased, bounced or complained)")
        )

    existing = {
        email: (pk, status)
        for email, pk, status in Subscriber.objects.filter(email__in=valid).values_list("email", "pk", "status")
    }
    for email, (_pk, status) in existing.items():
        if status in Subscriber.BLOCKED_STATUSES:
            entry = valid.pop(email)
            tally.skip(entry["row_number"], entry["raw_email"], _("unsubscribed, bounced or complained before"))

    insert_rows(
        Subscriber,
        columns=("email", "first_name", "last_name", "language", "public_id"),
        rows=[
            (
                email,
                entry["first_name"],
                entry["last_name"],
                entry["language"],
                db_value(Subscriber, "public_id", uuid4()),
            )
            for email, entry in valid.items()
            if email not in existing
        ],
        constants={
            "status": Subscriber.Status.ACTIVE if documented else Subscriber.Status.PENDING,
            "tracking_consent": False,
            "created_at": now,
            "updated_at": now,
        },
        ignore_conflicts=True,
    )
    ids = dict(Subscriber.objects.filter(email__in=valid).values_list("email", "pk"))
    subscribed_ids = set(
        Subscription.objects.filter(mailing_list=mailing_list, subscriber_id__in=ids.values())
        .exclude(status=Subscription.Status.UNSUBSCRIBED)
        .values_list("subscriber_id", flat=True)
    )
    unsubscribed_here = set(
        Subscription.objects.filter(
            mailing_list=mailing_list, subscriber_id__in=ids.values(), status=Subscription.Status.UNSUBSCRIBED
        ).values_list("subscriber_id", flat=True)
    )

    new_subscriptions = []
    for email, entry in valid.items():
        subscriber_id = ids[email]
        if subscriber_id in subscribed_ids:
            tally.skip(entry["row_number"], entry["raw_email"], _("already on this list"))
            continue
        if subscriber_id in unsubscribed_here:
            tally.skip(entry["row_number"], entry["raw_email"], _("unsubscribed from this list before"))
            continue
        if email in existing:
            tally.updated += 1
        else:
            tally.created += 1
        new_subscriptions.append((subscriber_id, "" if documented else secrets.token_hex(16)))
    insert_rows(
        Subscription,
        columns=("subscriber", "confirmation_nonce"),
        rows=new_subscriptions,
        constants={
            "mailing_list": mailing_list.pk,
            "status": Subscription.Status.ACTIVE if documented else Subscription.Status.PENDING,
            "created_at": now,
            "confirmed_at": now if documented else None,
            "unsubscribed_at": None,
        },
        ignore_conflicts=True,
    )
    added_ids = [subscriber_id for subscriber_id, _nonce in new_subscriptions]
    if documented and added_ids:
        Subscriber.objects.filter(pk__in=added_ids, status=Subscriber.Status.PENDING).update(
            status=Subscriber.Status.ACTIVE
        )

    basis = subscriber_import.consent_source if documented else _("double opt-in requested by import")
    insert_rows(
        ConsentRecord,
        columns=("subscriber",),
        rows=[(subscriber_id,) for subscriber_id in added_ids],
        constants={
            "mailing_list": mailing_list.pk,
            "action": ConsentRecord.Action.IMPORT,
            "occurred_at": now,
            "ip_address": None,
            "user_agent": "",
            "source_url": "",
            "consent_text": None,
            "consent_text_shown": "",
            "basis": basis,
            "actor": subscriber_import.created_by_id,
            "details": {"import": subscriber_import.pk, "file": subscriber_import.original_name},
        },
    )
    if tag_ids:
        insert_rows(
            Subscriber.tags.through,
            columns=("subscriber", "tag"),
            rows=[(subscriber_id, tag_id) for subscriber_id in ids.values() for tag_id in tag_ids],
            ignore_conflicts=True,
        )
    if not documented and added_ids:
        _queue_confirmation_mails(mailing_list=mailing_list, subscriber_ids=added_ids)


def _queue_confirmation_mails(*, mailing_list: MailingList, subscriber_ids: list[int]) -> None:
    subscriptions = Subscription.objects.filter(
        mailing_list=mailing_list, subscriber_id__in=subscriber_ids, status=Subscription.Status.PENDING
    ).values_list("pk", flat=True)
    mails = ConfirmationMail.objects.bulk_create(
        [ConfirmationMail(subscription_id=subscription_id) for subscription_id in subscriptions], batch_size=1000
    )
    from subscribers.tasks import send_confirmation_mails

    mail_ids = [mail.pk for mail in mails]
    for start in range(0, len(mail_ids), 500):
        send_confirmation_mails.delay_on_commit(mail_ids[start : start + 500])
