"""CSV import of subscribers: upload, column mapping, and the worker's chunked, re-playable run.

Reading the file itself (encoding, dialect, header, which column holds what) is
``subscribers.import_files``.
"""

import csv
import logging
import secrets
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parseaddr
from uuid import uuid4

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from newsletter_site.bulk import db_value, insert_rows
from subscribers import selectors
from subscribers.import_files import (
    CUSTOM_TARGET_PREFIX,
    ImportFileError,
    ParsedFile,
    file_too_large,
    guess_mapping,
    parse_file,
    preview,
)
from subscribers.models import (
    ConfirmationMail,
    ConsentRecord,
    CustomField,
    ImportProblem,
    Language,
    MailingList,
    Subscriber,
    SubscriberImport,
    Subscription,
    SuppressedAddress,
    email_hash,
    normalise_email,
    validate_time_zone,
)
from subscribers.services import optin
from subscribers.services.consent import consent_record_add

logger = logging.getLogger(__name__)

Reason = ImportProblem.Reason
# Spellings of a language other than its code, e.g. from an export of another tool.
LANGUAGE_ALIASES = {"deutsch": "de", "german": "de", "ger": "de", "deu": "de", "englisch": "en", "english": "en"}
CHUNK_SIZE = 5000
CONFIRMATION_BATCH = 500
LANGUAGES = {code for code, _label in Language.choices}
NAME_LIMIT = Subscriber._meta.get_field("first_name").max_length
EMAIL_LIMIT = Subscriber._meta.get_field("email").max_length
PROBLEM_EMAIL_LIMIT = ImportProblem._meta.get_field("email").max_length


@dataclass
class ChunkTally:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)

    def skip(self, row_number: int, raw_email: str, reason: str) -> None:
        self.skipped += 1
        self.problems.append((row_number, raw_email, reason))

    def error(self, row_number: int, raw_email: str, reason: str) -> None:
        self.errors += 1
        self.problems.append((row_number, raw_email, reason))


@dataclass
class ImportReport:
    """The problems of one run: every one counted by reason, only the first ``limit`` rows stored."""

    subscriber_import: SubscriberImport
    limit: int
    counts: Counter = field(default_factory=Counter)
    stored: int = 0

    def add(self, tally: ChunkTally) -> None:
        problems = sorted(tally.problems)
        self.counts.update(reason for _row_number, _raw_email, reason in problems)
        kept = problems[: max(self.limit - self.stored, 0)]
        ImportProblem.objects.bulk_create(
            [
                ImportProblem(
                    subscriber_import=self.subscriber_import,
                    row_number=row_number,
                    email=raw_email[:PROBLEM_EMAIL_LIMIT],
                    reason=reason,
                )
                for row_number, raw_email, reason in kept
            ],
            ignore_conflicts=True,  # a task delivered twice may run beside itself
        )
        self.stored += len(kept)


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
        raise file_too_large()
    if consent_basis == SubscriberImport.ConsentBasis.DOCUMENTED and not consent_source.strip():
        raise ImportFileError(_("Say where the consent of these addresses is documented."))
    subscriber_import = SubscriberImport(
        original_name=upload.name[:255],
        mailing_list=mailing_list,
        consent_basis=consent_basis,
        consent_source=consent_source.strip(),
        created_by=created_by,
    )
    subscriber_import.csv_file.save(f"{secrets.token_hex(8)}.csv", upload, save=False)
    try:
        parsed = parsed_file_of(subscriber_import)
        subscriber_import.column_mapping = guess_mapping(parsed.header, preview(parsed), CustomField.objects.all())
        subscriber_import.full_clean()
    except (ImportFileError, ValidationError):
        subscriber_import.csv_file.delete(save=False)
        raise
    subscriber_import.save()
    subscriber_import.tags.set(tags)
    return subscriber_import


class ImportRefused(Exception):
    """``subscriber_import_one`` changed nothing; ``reasons`` maps a list's slug (or "*") to a Reason."""

    def __init__(self, reasons: dict[str, str]):
        super().__init__(", ".join(f"{where}: {reason}" for where, reason in reasons.items()))
        self.reasons = reasons


@transaction.atomic
def subscriber_import_one(
    *,
    email: str,
    mailing_lists: list[MailingList],
    consent_source: str,
    first_name: str = "",
    last_name: str = "",
    language: str | None = None,
    details: dict | None = None,
    actor=None,
) -> Subscriber:
    """One address with consent documented elsewhere: active at once, no confirmation mail.

    The rules of a CSV import with the "documented" basis, for one address: a suppressed or
    blocked address and a list the person left or has yet to confirm are refused (ImportRefused,
    nothing changes); a list they are active on already stays as it is. Each added subscription
    gets an "import" consent record whose basis is ``consent_source``.
    """
    if not consent_source.strip():
        raise ValueError("a documented consent needs its source")
    email = normalise_email(email)
    if selectors.address_is_suppressed(email=email):
        raise ImportRefused({"*": Reason.SUPPRESSED})
    subscriber, created = Subscriber.objects.select_for_update().get_or_create(
        email=email,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "language": language or mailing_lists[0].language,
            "status": Subscriber.Status.ACTIVE,
        },
    )
    if subscriber.status in Subscriber.BLOCKED_STATUSES:
        raise ImportRefused({"*": Reason.BLOCKED})
    on_list = dict(
        Subscription.objects.select_for_update()
        .filter(subscriber=subscriber, mailing_list__in=mailing_lists)
        .values_list("mailing_list_id", "status")
    )
    refusals = {
        Subscription.Status.UNSUBSCRIBED: Reason.LEFT_LIST,
        Subscription.Status.PENDING: Reason.PENDING_ON_LIST,
    }
    refused = {ml.slug: refusals[on_list[ml.pk]] for ml in mailing_lists if on_list.get(ml.pk) in refusals}
    if refused:
        raise ImportRefused(refused)
    now = timezone.now()
    added = [mailing_list for mailing_list in mailing_lists if mailing_list.pk not in on_list]
    for mailing_list in added:
        Subscription.objects.create(
            subscriber=subscriber, mailing_list=mailing_list, status=Subscription.Status.ACTIVE, confirmed_at=now
        )
        consent_record_add(
            subscriber=subscriber,
            action=ConsentRecord.Action.IMPORT,
            mailing_list=mailing_list,
            basis=consent_source.strip(),
            actor=actor,
            details={**(details or {}), "new_subscriber": created},
        )
    if added and subscriber.status == Subscriber.Status.PENDING:
        subscriber.status = Subscriber.Status.ACTIVE
        subscriber.save(update_fields=["status", "updated_at"])
    return subscriber


def parsed_file_of(subscriber_import: SubscriberImport) -> ParsedFile:
    csv_file = subscriber_import.csv_file
    return parse_file(lambda: csv_file.storage.open(csv_file.name, "rb"))


def subscriber_import_start(*, subscriber_import: SubscriberImport, column_mapping: dict[str, str]) -> None:
    """Fix the column mapping and queue the import for the worker."""
    if not column_mapping.get("email"):
        raise ImportFileError(_("Choose the column that holds the email addresses."))
    header = parsed_file_of(subscriber_import).header
    unknown = [column for column in column_mapping.values() if column and column not in header]
    if unknown:
        raise ImportFileError(_("Unknown column: %(column)s") % {"column": unknown[0]})
    _mapped_custom_fields({target: column for target, column in column_mapping.items() if column})
    with transaction.atomic():
        subscriber_import = SubscriberImport.objects.select_for_update().get(pk=subscriber_import.pk)
        if subscriber_import.status != SubscriberImport.Status.UPLOADED:
            return
        subscriber_import.column_mapping = {target: column for target, column in column_mapping.items() if column}
        subscriber_import.status = SubscriberImport.Status.QUEUED
        subscriber_import.save(update_fields=["column_mapping", "status"])

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
        # A RUNNING import here is a re-delivered task after a crash: it starts over, and the
        # rows the first attempt stored are recognised by their consent records.
        subscriber_import.status = SubscriberImport.Status.RUNNING
        subscriber_import.started_at = subscriber_import.started_at or timezone.now()
        subscriber_import.processed_rows = 0
        subscriber_import.created_count = subscriber_import.updated_count = 0
        subscriber_import.skipped_count = subscriber_import.error_count = 0
        subscriber_import.problem_counts = {}
        subscriber_import.save()
        subscriber_import.problems.all().delete()
    try:
        parsed = parsed_file_of(subscriber_import)
        _check_columns(subscriber_import, parsed)
        # One streaming pass before anything is stored: the progress bar needs the total, and a
        # file the csv module cannot read fails here rather than half-way through.
        total_rows = _count_rows(parsed)
        SubscriberImport.objects.filter(pk=import_id).update(total_rows=total_rows)
        _run_chunks(subscriber_import, parsed)
    except ImportFileError as error:
        _finish(subscriber_import, status=SubscriberImport.Status.FAILED, failure_reason=str(error))
        return
    except Exception as error:
        logger.exception("Import %s failed", import_id)
        _finish(subscriber_import, status=SubscriberImport.Status.FAILED, failure_reason=repr(error))
        raise
    _finish(subscriber_import, status=SubscriberImport.Status.DONE)


def _finish(subscriber_import: SubscriberImport, *, status: str, failure_reason: str = ""):
    SubscriberImport.objects.filter(pk=subscriber_import.pk).update(
        status=status, failure_reason=failure_reason, finished_at=timezone.now()
    )


def _check_columns(subscriber_import: SubscriberImport, parsed: ParsedFile) -> None:
    mapping = subscriber_import.column_mapping
    if mapping.get("email") not in parsed.header:
        raise ImportFileError(_("The file has no column “%(column)s”.") % {"column": mapping.get("email", "")})
    _mapped_custom_fields(mapping)


def _mapped_custom_fields(mapping: dict[str, str]) -> dict[str, CustomField]:
    """{mapping target: CustomField} of the custom fields a mapping fills; a deleted field fails the import."""
    keys = {
        target.removeprefix(CUSTOM_TARGET_PREFIX): target
        for target in mapping
        if target.startswith(CUSTOM_TARGET_PREFIX)
    }
    found = {field.key: field for field in CustomField.objects.filter(key__in=keys)}
    for key in keys:
        if key not in found:
            raise ImportFileError(_("There is no custom field “%(key)s” any more.") % {"key": key})
    return {target: found[key] for key, target in keys.items()}


def _count_rows(parsed: ParsedFile) -> int:
    total = 0
    row_number = 1
    try:
        for row in parsed.rows():
            row_number += 1
            if any(cell.strip() for cell in row):
                total += 1
    except csv.Error as error:
        raise ImportFileError(
            _("The file cannot be read as CSV at row %(row)d: %(error)s") % {"row": row_number + 1, "error": error}
        ) from error
    if not total:
        raise ImportFileError(_("The file has a header line but no rows."))
    return total


def _run_chunks(subscriber_import: SubscriberImport, parsed: ParsedFile) -> None:
    mapping = subscriber_import.column_mapping
    columns = {target: parsed.header.index(column) for target, column in mapping.items() if column in parsed.header}
    tag_ids = list(subscriber_import.tags.values_list("pk", flat=True))
    custom_fields = _mapped_custom_fields(mapping)
    seen: set[str] = set()
    report = ImportReport(subscriber_import=subscriber_import, limit=settings.KANAL_IMPORT_REPORT_MAX_ROWS)
    chunk: list[tuple[int, list[str]]] = []
    row_number = 1  # the header
    for row in parsed.rows():
        row_number += 1
        if not any(cell.strip() for cell in row):
            continue
        chunk.append((row_number, row))
        if len(chunk) == CHUNK_SIZE:
            _import_chunk(subscriber_import, chunk, columns, custom_fields, seen, tag_ids, report)
            chunk = []
    if chunk:
        _import_chunk(subscriber_import, chunk, columns, custom_fields, seen, tag_ids, report)


def _cell(row: list[str], columns: dict[str, int], target: str) -> str:
    index = columns.get(target)
    return row[index].strip() if index is not None and index < len(row) else ""


def _import_chunk(subscriber_import, chunk, columns, custom_fields, seen, tag_ids, report: ImportReport) -> None:
    tally = ChunkTally()
    language = subscriber_import.mailing_list.language
    valid = _valid_rows(chunk, columns, custom_fields, seen, tally, default_language=language)
    with transaction.atomic():
        _store_chunk(subscriber_import, valid, tally, tag_ids)
        report.add(tally)
        SubscriberImport.objects.filter(pk=subscriber_import.pk).update(
            processed_rows=F("processed_rows") + len(chunk),
            created_count=F("created_count") + tally.created,
            updated_count=F("updated_count") + tally.updated,
            skipped_count=F("skipped_count") + tally.skipped,
            error_count=F("error_count") + tally.errors,
            problem_counts=dict(report.counts),
        )


def _custom_values(row, columns, custom_fields: dict[str, CustomField]) -> tuple[dict, str]:
    """The row's custom field values, typed; or the problem code of the first cell that does not fit."""
    values = {}
    for target, custom_field in custom_fields.items():
        try:
            value = custom_field.clean_value(_cell(row, columns, target))
        except ValidationError:
            return {}, ImportProblem.field_reason(custom_field.key)
        if value is not None:
            values[custom_field.key] = value
    return values, ""


def _valid_rows(
    chunk, columns, custom_fields, seen: set[str], tally: ChunkTally, *, default_language: str
) -> dict[str, dict]:
    """The rows of a chunk worth storing, by normalised address; the others go to the tally.

    A value that does not fit its custom field rejects the row, as a bad address or a too long
    name does: importing the row without it would pass for a complete import.
    """
    valid: dict[str, dict] = {}
    for row_number, row in chunk:
        raw_email = _cell(row, columns, "email")
        email = normalise_email(raw_email)
        if "<" in email:
            # "Anna Ahorn <anna@example.org>", as mail programs export contacts.
            email = normalise_email(parseaddr(email)[1]) or email
        if not email:
            tally.error(row_number, raw_email, Reason.NO_EMAIL)
            continue
        if len(email) > EMAIL_LIMIT:
            tally.error(row_number, raw_email, Reason.EMAIL_TOO_LONG)
            continue
        try:
            validate_email(email)
        except ValidationError:
            tally.error(row_number, raw_email, Reason.INVALID_EMAIL)
            continue
        first_name, last_name = _cell(row, columns, "first_name"), _cell(row, columns, "last_name")
        if len(first_name) > NAME_LIMIT or len(last_name) > NAME_LIMIT:
            tally.error(row_number, raw_email, Reason.NAME_TOO_LONG)
            continue
        fields, problem = _custom_values(row, columns, custom_fields)
        if problem:
            tally.error(row_number, raw_email, problem)
            continue
        time_zone = _cell(row, columns, "time_zone")
        try:
            validate_time_zone(time_zone)
        except ValidationError:
            tally.error(row_number, raw_email, Reason.UNKNOWN_TIME_ZONE)
            continue
        if email in seen:
            tally.skip(row_number, raw_email, Reason.DUPLICATE)
            continue
        seen.add(email)
        language = _cell(row, columns, "language").lower()
        language = LANGUAGE_ALIASES.get(language, language.replace("_", "-").split("-")[0])
        valid[email] = {
            "row_number": row_number,
            "raw_email": raw_email,
            "first_name": first_name,
            "last_name": last_name,
            "language": language if language in LANGUAGES else default_language,
            "time_zone": time_zone,
            "fields": fields,
        }
    return valid


def _store_chunk(subscriber_import, valid: dict[str, dict], tally: ChunkTally, tag_ids: list[int]) -> None:
    """Subscribers, subscriptions, consent records, tags and confirmation mails for a chunk's valid rows."""
    documented = subscriber_import.consent_basis == SubscriberImport.ConsentBasis.DOCUMENTED
    mailing_list = subscriber_import.mailing_list
    now = timezone.now()

    _drop_suppressed(valid, tally)
    existing = _drop_blocked(valid, tally)
    ids, created_here = _insert_subscribers(valid, existing, documented=documented, now=now)
    candidates = _drop_list_members(subscriber_import, valid, ids, existing, tally)
    added = _insert_subscriptions(mailing_list, candidates, documented=documented, now=now)
    new_subscribers, old_subscribers = _tally_added(valid, candidates, added, created_here, tally)
    if documented and old_subscribers:
        # New subscribers were inserted active; one who was only pending elsewhere is active now.
        Subscriber.objects.filter(pk__in=old_subscribers, status=Subscriber.Status.PENDING).update(
            status=Subscriber.Status.ACTIVE
        )
    _record_consent(subscriber_import, new_subscribers, old_subscribers, documented=documented, now=now)
    if tag_ids:
        insert_rows(
            Subscriber.tags.through,
            columns=("subscriber", "tag"),
            rows=[(subscriber_id, tag_id) for subscriber_id in ids.values() for tag_id in tag_ids],
            ignore_conflicts=True,
        )
    if not documented and (new_subscribers or old_subscribers):
        _queue_confirmation_mails(
            mailing_list=mailing_list,
            new_subscription_ids=[added[subscriber_id] for subscriber_id in new_subscribers],
            old_subscription_ids=[added[subscriber_id] for subscriber_id in old_subscribers],
        )


def _drop_suppressed(valid: dict[str, dict], tally: ChunkTally) -> None:
    hashes = {email_hash(email): email for email in valid}
    for suppressed_hash in SuppressedAddress.objects.filter(email_hash__in=hashes).values_list("email_hash", flat=True):
        entry = valid.pop(hashes[suppressed_hash])
        tally.skip(entry["row_number"], entry["raw_email"], Reason.SUPPRESSED)


def _drop_blocked(valid: dict[str, dict], tally: ChunkTally) -> dict[str, int]:
    """Leaves out addresses whose subscriber unsubscribed, bounced or complained; the others found, by address."""
    existing = {}
    for email, pk, status in Subscriber.objects.filter(email__in=valid).values_list("email", "pk", "status"):
        existing[email] = pk
        if status in Subscriber.BLOCKED_STATUSES:
            entry = valid.pop(email)
            tally.skip(entry["row_number"], entry["raw_email"], Reason.BLOCKED)
    return existing


def _insert_subscribers(
    valid: dict[str, dict], existing: dict[str, int], *, documented: bool, now
) -> tuple[dict[str, int], set[int]]:
    """Inserts the addresses not found; returns the id of every valid address and the ids created here.

    Like names and language, custom field values are stored only for new subscribers: a file
    never overwrites what a subscriber entered or confirmed.
    """
    insert_rows(
        Subscriber,
        columns=("email", "first_name", "last_name", "language", "time_zone", "public_id", "fields"),
        rows=[
            (
                email,
                entry["first_name"],
                entry["last_name"],
                entry["language"],
                entry["time_zone"],
                db_value(Subscriber, "public_id", uuid4()),
                db_value(Subscriber, "fields", entry["fields"]),
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
    ids, created_here = {}, set()
    for email, pk, created_at in Subscriber.objects.filter(email__in=valid).values_list("email", "pk", "created_at"):
        ids[email] = pk
        # Not merely "not found before the insert": a concurrent sign-up may have created it.
        if email not in existing and created_at == now:
            created_here.add(pk)
    return ids, created_here


def _drop_list_members(subscriber_import, valid, ids, existing, tally: ChunkTally) -> list[tuple[str, int]]:
    """The (address, subscriber id) pairs that need a subscription to the import's list.

    A subscription an earlier attempt of this same import stored (a re-delivered task) counts as
    that attempt counted it, not as "already on this list".
    """
    mailing_list = subscriber_import.mailing_list
    # Only subscribers found before the insert can have a subscription already; one a concurrent
    # sign-up just created is caught by the conflict check after inserting subscriptions.
    on_list = dict(
        Subscription.objects.filter(
            mailing_list=mailing_list, subscriber_id__in=[ids[email] for email in valid if email in existing]
        ).values_list("subscriber_id", "status")
    )
    stored_before = {
        subscriber_id: details.get("new_subscriber", False)
        for subscriber_id, details in ConsentRecord.objects.filter(
            action=ConsentRecord.Action.IMPORT, mailing_list=mailing_list, subscriber_id__in=on_list
        ).values_list("subscriber_id", "details")
        if details.get("import") == subscriber_import.pk
    }
    candidates = []
    for email, entry in valid.items():
        subscriber_id = ids[email]
        status = on_list.get(subscriber_id)
        if subscriber_id in stored_before:
            if stored_before[subscriber_id]:
                tally.created += 1
            else:
                tally.updated += 1
        elif status == Subscription.Status.UNSUBSCRIBED:
            tally.skip(entry["row_number"], entry["raw_email"], Reason.LEFT_LIST)
        elif status == Subscription.Status.PENDING:
            tally.skip(entry["row_number"], entry["raw_email"], Reason.PENDING_ON_LIST)
        elif status is not None:
            tally.skip(entry["row_number"], entry["raw_email"], Reason.ON_LIST)
        else:
            candidates.append((email, subscriber_id))
    return candidates


def _insert_subscriptions(mailing_list, candidates, *, documented: bool, now) -> dict[int, int]:
    """Subscribes the candidates; returns {subscriber id: subscription id} of those this chunk added."""
    insert_rows(
        Subscription,
        columns=("subscriber", "confirmation_nonce"),
        rows=[(subscriber_id, "" if documented else secrets.token_hex(16)) for _email, subscriber_id in candidates],
        constants={
            "mailing_list": mailing_list.pk,
            "status": Subscription.Status.ACTIVE if documented else Subscription.Status.PENDING,
            "created_at": now,
            "confirmed_at": now if documented else None,
            "unsubscribed_at": None,
        },
        ignore_conflicts=True,
    )
    # Re-read what this chunk inserted: a concurrent sign-up may have won a conflict.
    return dict(
        Subscription.objects.filter(
            mailing_list=mailing_list, subscriber_id__in=[subscriber_id for _email, subscriber_id in candidates]
        )
        .filter(created_at=now)
        .values_list("subscriber_id", "pk")
    )


def _tally_added(valid, candidates, added, created_here, tally: ChunkTally) -> tuple[list[int], list[int]]:
    """Counts the subscriptions added; returns the ids of new subscribers and of existing ones."""
    new_subscribers, old_subscribers = [], []
    for email, subscriber_id in candidates:
        if subscriber_id not in added:
            entry = valid[email]
            tally.skip(entry["row_number"], entry["raw_email"], Reason.ON_LIST)
        elif subscriber_id in created_here:
            tally.created += 1
            new_subscribers.append(subscriber_id)
        else:
            tally.updated += 1
            old_subscribers.append(subscriber_id)
    return new_subscribers, old_subscribers


def _record_consent(subscriber_import, new_subscribers, old_subscribers, *, documented: bool, now) -> None:
    """One import consent record per added subscription; ``new_subscriber`` lets a re-run count it again."""
    basis = subscriber_import.consent_source if documented else _("double opt-in requested by import")
    for subscriber_ids, new_subscriber in ((new_subscribers, True), (old_subscribers, False)):
        insert_rows(
            ConsentRecord,
            columns=("subscriber",),
            rows=[(subscriber_id,) for subscriber_id in subscriber_ids],
            constants={
                "mailing_list": subscriber_import.mailing_list.pk,
                "action": ConsentRecord.Action.IMPORT,
                "occurred_at": now,
                "ip_address": None,
                "user_agent": "",
                "source_url": "",
                "consent_text": None,
                "consent_text_shown": "",
                "basis": basis,
                "actor": subscriber_import.created_by_id,
                "details": {
                    "import": subscriber_import.pk,
                    "file": subscriber_import.original_name,
                    "new_subscriber": new_subscriber,
                },
            },
        )


def _queue_confirmation_mails(
    *, mailing_list: MailingList, new_subscription_ids: list[int], old_subscription_ids: list[int]
) -> None:
    """One double-opt-in mail per new pending subscription, within the same caps as a sign-up.

    Subscribers who existed before may have had confirmation mails today, so each of their new
    subscriptions goes through optin.confirmation_mail_queue. Subscribers this chunk created
    have had none and passed the suppression check in this transaction, so the caps cannot
    refuse them: their mails are inserted in bulk and sent in batches, since one task and four
    queries per address would make a 100,000-row import take minutes. Tasks go out on commit.
    """
    old_subscriptions = Subscription.objects.filter(
        pk__in=old_subscription_ids, status=Subscription.Status.PENDING
    ).select_related("subscriber")
    for subscription in old_subscriptions:
        optin.confirmation_mail_queue(subscription=subscription)
    if not new_subscription_ids:
        return
    queued_at = timezone.now()
    insert_rows(
        ConfirmationMail,
        columns=("subscription",),
        rows=[(subscription_id,) for subscription_id in new_subscription_ids],
        constants={"queued_at": queued_at, "sent_at": None, "esp_message_id": ""},
    )
    mail_ids = list(
        ConfirmationMail.objects.filter(queued_at=queued_at, subscription__mailing_list=mailing_list)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    from subscribers.tasks import send_confirmation_mails

    for start in range(0, len(mail_ids), CONFIRMATION_BATCH):
        send_confirmation_mails.delay_on_commit(mail_ids[start : start + CONFIRMATION_BATCH])
