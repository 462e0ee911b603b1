import csv
import io

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from newsletter_site.csv_export import csv_lines
from newsletter_site.testing import wait_until
from subscribers import import_files
from subscribers.models import (
    ConfirmationMail,
    ConsentRecord,
    Subscriber,
    SubscriberImport,
    Subscription,
    SuppressedAddress,
    email_hash,
)
from subscribers.selectors import import_report_rows
from subscribers.services import imports, optin
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Reports are written in the active language; these tests read the English wording."""
    with translation.override("en"):
        yield


DOCUMENTED = SubscriberImport.ConsentBasis.DOCUMENTED
DOUBLE_OPT_IN = SubscriberImport.ConsentBasis.DOUBLE_OPT_IN


def upload(text: str, *, encoding="utf-8", name="list.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


def create(mailing_list, text, *, basis=DOCUMENTED, source="Messe 2026, Ordner 7", tags=(), encoding="utf-8"):
    return imports.subscriber_import_create(
        upload=upload(text, encoding=encoding),
        mailing_list=mailing_list,
        tags=list(tags),
        consent_basis=basis,
        consent_source=source,
        created_by=None,
    )


def run(subscriber_import, mapping=None, callbacks=None):
    imports.subscriber_import_start(
        subscriber_import=subscriber_import, column_mapping=mapping or subscriber_import.column_mapping
    )
    imports.subscriber_import_run(import_id=subscriber_import.pk)
    subscriber_import.refresh_from_db()
    return subscriber_import


def report_rows(subscriber_import) -> list[dict]:
    return list(
        csv.DictReader(io.StringIO("".join(csv_lines(import_report_rows(subscriber_import=subscriber_import)))))
    )


def test_german_headers_semicolons_and_bom_are_understood(mailing_list):
    subscriber_import = create(
        mailing_list, "\ufeffE-Mail;Vorname;Nachname;Sprache\nJ.Meier@Example.de;Jörg;Meier;EN\n"
    )
    assert subscriber_import.column_mapping == {
        "email": "E-Mail",
        "first_name": "Vorname",
        "last_name": "Nachname",
        "language": "Sprache",
    }
    run(subscriber_import)
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.first_name, subscriber.language) == ("j.meier@example.de", "Jörg", "en")


def test_windows_encoded_file_keeps_umlauts(mailing_list):
    subscriber_import = run(create(mailing_list, "email,first name\nanna@example.org,Jürgen\n", encoding="cp1252"))
    assert subscriber_import.status == SubscriberImport.Status.DONE
    assert Subscriber.objects.get().first_name == "Jürgen"


def test_preview_shows_the_first_rows(mailing_list):
    text = "email,name\n" + "".join(f"r{n}@example.org,R{n}\n" for n in range(30))
    parsed = imports.parsed_file_of(create(mailing_list, text))
    rows = import_files.preview(parsed)
    assert parsed.header == ["email", "name"]
    assert len(rows) == import_files.PREVIEW_ROWS
    assert rows[0] == ["r0@example.org", "R0"]


def test_documented_import_activates_and_records_the_source(mailing_list):
    tag = TagFactory(name="messe")
    subscriber_import = run(create(mailing_list, "email\na@example.org\nb@example.org\n", tags=[tag]))
    assert (subscriber_import.status, subscriber_import.created_count, subscriber_import.total_rows) == ("done", 2, 2)
    assert subscriber_import.processed_rows == 2 and subscriber_import.progress_percent == 100
    assert set(Subscriber.objects.values_list("status", flat=True)) == {Subscriber.Status.ACTIVE}
    assert set(Subscription.objects.values_list("status", flat=True)) == {Subscription.Status.ACTIVE}
    records = ConsentRecord.objects.filter(action=ConsentRecord.Action.IMPORT)
    assert records.count() == 2
    assert {record.basis for record in records} == {"Messe 2026, Ordner 7"}
    assert records.first().details["import"] == subscriber_import.pk
    assert set(Subscriber.objects.get(email="a@example.org").tags.values_list("name", flat=True)) == {"messe"}


def test_every_bad_row_is_reported_and_the_rest_imported(mailing_list):
    text = (
        "email,first_name\n"
        "good@example.org,Good\n"
        "not-an-address,X\n"
        ",Nobody\n"
        "GOOD@example.org,Again\n"
        f"{'a' * 250}@example.org,Long\n"
        f"long@example.org,{'n' * 101}\n"
    )
    subscriber_import = run(create(mailing_list, text))
    assert subscriber_import.status == SubscriberImport.Status.DONE
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["good@example.org"]
    assert (subscriber_import.created_count, subscriber_import.skipped_count, subscriber_import.error_count) == (
        1,
        1,
        4,
    )
    problems = {int(row["row"]): row["problem"] for row in report_rows(subscriber_import)}
    assert problems == {
        3: "not a valid email address",
        4: "no email address",
        5: "duplicate in this file",
        6: "email address too long",
        7: "name longer than 100 characters",
    }


def test_suppressed_and_blocked_addresses_are_not_re_added(mailing_list):
    SuppressedAddress.objects.create(email_hash=email_hash("erased@example.org"), reason="erased")
    SubscriberFactory(email="gone@example.org", status=Subscriber.Status.UNSUBSCRIBED)
    SubscriberFactory(email="bounced@example.org", status=Subscriber.Status.BOUNCED)
    subscriber_import = run(
        create(mailing_list, "email\nerased@example.org\ngone@example.org\nbounced@example.org\nnew@example.org\n")
    )
    assert subscriber_import.created_count == 1 and subscriber_import.skipped_count == 3
    assert not Subscriber.objects.filter(email="erased@example.org").exists()
    assert not Subscription.objects.filter(subscriber__email__in=["gone@example.org", "bounced@example.org"]).exists()
    reasons = [row["problem"] for row in report_rows(subscriber_import)]
    assert reasons[0].startswith("on the suppression list")


def test_existing_subscriber_gets_the_subscription_without_losing_its_data(mailing_list):
    other_list = MailingListFactory()
    existing = SubscriptionFactory(
        subscriber=SubscriberFactory(email="old@example.org", first_name="Olga"), mailing_list=other_list
    )
    SubscriptionFactory(subscriber=SubscriberFactory(email="here@example.org"), mailing_list=mailing_list)
    subscriber_import = run(create(mailing_list, "email,first_name\nold@example.org,Changed\nhere@example.org,X\n"))
    assert (subscriber_import.updated_count, subscriber_import.skipped_count) == (1, 1)
    subscriber = Subscriber.objects.get(pk=existing.subscriber_id)
    assert subscriber.first_name == "Olga"
    assert subscriber.subscriptions.count() == 2


def test_documented_basis_needs_a_source(mailing_list):
    with pytest.raises(imports.ImportFileError):
        create(mailing_list, "email\na@example.org\n", source="  ")
    assert not SubscriberImport.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary")],
)
def test_broken_files_are_refused_with_a_clear_message(mailing_list, content, message):
    with pytest.raises(imports.ImportFileError, match=message):
        imports.subscriber_import_create(
            upload=SimpleUploadedFile("x.csv", content),
            mailing_list=mailing_list,
            tags=[],
            consent_basis=DOCUMENTED,
            consent_source="x",
            created_by=None,
        )


def test_oversized_file_is_refused(mailing_list, settings):
    settings.KANAL_IMPORT_MAX_BYTES = 100
    with pytest.raises(imports.ImportFileError, match="larger"):
        create(mailing_list, "email\n" + "a@example.org\n" * 20)


def test_file_without_the_mapped_email_column_fails_and_stores_nothing(mailing_list):
    subscriber_import = create(mailing_list, "name\nAnna\n")
    with pytest.raises(imports.ImportFileError):
        imports.subscriber_import_start(subscriber_import=subscriber_import, column_mapping={"email": ""})
    subscriber_import.status = SubscriberImport.Status.QUEUED
    subscriber_import.column_mapping = {"email": "E-Mail"}
    subscriber_import.save()
    imports.subscriber_import_run(import_id=subscriber_import.pk)
    subscriber_import.refresh_from_db()
    assert subscriber_import.status == SubscriberImport.Status.FAILED
    assert "E-Mail" in subscriber_import.failure_reason
    assert not Subscriber.objects.exists()


def test_double_opt_in_import_mails_each_new_address(mailing_list, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        subscriber_import = run(create(mailing_list, "email\na@example.org\nb@example.org\n", basis=DOUBLE_OPT_IN))
    assert len(callbacks) == 2, "the import task, then one batch of confirmation mails"
    assert set(Subscription.objects.values_list("status", flat=True)) == {Subscription.Status.PENDING}
    assert set(Subscriber.objects.values_list("status", flat=True)) == {Subscriber.Status.PENDING}
    for confirmation_mail in ConfirmationMail.objects.all():
        optin.confirmation_mail_send(confirmation_mail_id=confirmation_mail.pk)
    assert sorted(message.to[0] for message in mail.outbox) == ["a@example.org", "b@example.org"]
    assert subscriber_import.created_count == 2
    record = ConsentRecord.objects.get(subscriber__email="a@example.org")
    assert (record.action, record.basis) == (ConsentRecord.Action.IMPORT, "double opt-in requested by import")


def test_double_opt_in_import_respects_the_daily_mail_cap_of_existing_subscribers(mailing_list, settings):
    settings.KANAL_CONFIRMATION_MAILS_PER_ADDRESS_PER_DAY = 1
    other = SubscriptionFactory(
        subscriber=SubscriberFactory(email="busy@example.org", status=Subscriber.Status.PENDING),
        status=Subscription.Status.PENDING,
        confirmation_nonce="x" * 32,
    )
    ConfirmationMail.objects.create(subscription=other)
    SubscriberFactory(email="calm@example.org")
    subscriber_import = run(create(mailing_list, "email\nbusy@example.org\ncalm@example.org\n", basis=DOUBLE_OPT_IN))
    assert subscriber_import.updated_count == 2
    mailed = ConfirmationMail.objects.filter(subscription__mailing_list=mailing_list)
    assert list(mailed.values_list("subscription__subscriber__email", flat=True)) == ["calm@example.org"]
    assert Subscription.objects.get(mailing_list=mailing_list, subscriber__email="busy@example.org").status == (
        Subscription.Status.PENDING
    ), "the subscription waits; staff can resend the mail tomorrow"


def test_running_the_import_again_duplicates_nothing(mailing_list):
    subscriber_import = run(create(mailing_list, "email\na@example.org\nb@example.org\n"))
    SubscriberImport.objects.filter(pk=subscriber_import.pk).update(status=SubscriberImport.Status.RUNNING)
    imports.subscriber_import_run(import_id=subscriber_import.pk)
    imports.subscriber_import_run(import_id=subscriber_import.pk)  # done now: does nothing
    assert Subscriber.objects.count() == 2
    assert Subscription.objects.count() == 2
    assert ConsentRecord.objects.count() == 2


def test_large_file_goes_in_chunks_with_progress(mailing_list, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 100)
    seen_progress = []
    original = imports._import_chunk

    def spy(subscriber_import, *args):
        original(subscriber_import, *args)
        seen_progress.append(SubscriberImport.objects.get(pk=subscriber_import.pk).processed_rows)

    monkeypatch.setattr(imports, "_import_chunk", spy)
    run(create(mailing_list, "email\n" + "".join(f"u{n}@example.org\n" for n in range(450))))
    assert seen_progress == [100, 200, 300, 400, 450]
    assert Subscriber.objects.count() == 450


@pytest.mark.worker
def test_import_runs_in_a_real_worker_and_the_worker_sends_the_confirmation_mails(mailing_list, celery_worker_thread):
    subscriber_import = create(mailing_list, "email\nw1@example.org\nw2@example.org\nkaputt\n", basis=DOUBLE_OPT_IN)
    imports.subscriber_import_start(subscriber_import=subscriber_import, column_mapping={"email": "email"})

    def done_and_mailed():
        subscriber_import.refresh_from_db()
        # The worker marks a confirmation mail sent just after handing it over: wait for both marks.
        marked = ConfirmationMail.objects.filter(sent_at__isnull=False).count()
        return subscriber_import.status == SubscriberImport.Status.DONE and len(mail.outbox) == 2 and marked == 2

    wait_until(done_and_mailed, timeout=20, message="the import to finish with both confirmation mails marked sent")
    assert subscriber_import.status == SubscriberImport.Status.DONE
    assert (subscriber_import.processed_rows, subscriber_import.created_count, subscriber_import.error_count) == (
        3,
        2,
        1,
    )
    assert sorted(message.to[0] for message in mail.outbox) == ["w1@example.org", "w2@example.org"]
    assert ConfirmationMail.objects.filter(sent_at__isnull=False).count() == 2


def test_mapping_is_guessed_from_header_spellings():
    assert import_files.guess_mapping(["E-Mail-Adresse", "First Name", "Family name", "Language Code"]) == {
        "email": "E-Mail-Adresse",
        "first_name": "First Name",
        "last_name": "Family name",
        "language": "Language Code",
    }


def test_email_column_is_guessed_from_the_data_when_the_header_says_nothing(mailing_list):
    subscriber_import = create(mailing_list, "Kunde,Kontakt\nAnna,anna@example.org\nBen,ben@example.org\n")
    assert subscriber_import.column_mapping == {"email": "Kontakt"}


def test_tab_separated_utf16_file_from_excel_is_understood(mailing_list):
    subscriber_import = run(create(mailing_list, "E-Mail\tVorname\nzoe@example.org\tZoë\n", encoding="utf-16"))
    assert subscriber_import.status == SubscriberImport.Status.DONE
    assert Subscriber.objects.get().first_name == "Zoë"


def test_semicolon_file_with_quoted_fields(mailing_list):
    text = 'email;first_name\n"a@example.org";"Anna; die Erste"\n'
    subscriber_import = run(create(mailing_list, text))
    assert subscriber_import.column_mapping["email"] == "email"
    assert Subscriber.objects.get().first_name == "Anna; die Erste"


def test_language_names_and_regional_codes_are_understood(mailing_list):
    text = "email,language\na@example.org,Englisch\nb@example.org,en-GB\nc@example.org,Klingonisch\n"
    run(create(mailing_list, text))
    assert dict(Subscriber.objects.values_list("email", "language")) == {
        "a@example.org": "en",
        "b@example.org": "en",
        "c@example.org": "de",
    }


def test_pending_and_unsubscribed_list_members_are_reported(mailing_list):
    SubscriptionFactory(
        mailing_list=mailing_list,
        status=Subscription.Status.PENDING,
        subscriber=SubscriberFactory(email="p@example.org"),
    )
    SubscriptionFactory(
        mailing_list=mailing_list,
        status=Subscription.Status.UNSUBSCRIBED,
        subscriber=SubscriberFactory(email="u@example.org"),
    )
    subscriber_import = run(create(mailing_list, "email\np@example.org\nu@example.org\n"))
    assert [row["problem"] for row in report_rows(subscriber_import)] == [
        "already on this list, waiting for confirmation",
        "unsubscribed from this list before",
    ]
    assert Subscription.objects.get(subscriber__email="u@example.org").status == Subscription.Status.UNSUBSCRIBED


class WorkerKilled(BaseException):
    """Stands in for a worker process dying mid-import: no except clause of the service sees it."""


def test_import_interrupted_mid_way_completes_on_redelivery_with_the_right_counts(mailing_list, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    original = imports._import_chunk
    calls = []

    def dies_on_second_chunk(*args):
        calls.append(1)
        if len(calls) == 2:
            raise WorkerKilled
        original(*args)

    monkeypatch.setattr(imports, "_import_chunk", dies_on_second_chunk)
    SubscriberFactory(email="known@example.org")
    subscriber_import = create(mailing_list, "email\na@example.org\nknown@example.org\nb@example.org\nbad\n")
    imports.subscriber_import_start(subscriber_import=subscriber_import, column_mapping={"email": "email"})
    with pytest.raises(WorkerKilled):
        imports.subscriber_import_run(import_id=subscriber_import.pk)
    subscriber_import.refresh_from_db()
    assert (subscriber_import.status, subscriber_import.processed_rows) == ("running", 2)

    imports.subscriber_import_run(import_id=subscriber_import.pk)  # the re-delivered task
    subscriber_import.refresh_from_db()
    assert subscriber_import.status == SubscriberImport.Status.DONE
    assert (
        subscriber_import.created_count,
        subscriber_import.updated_count,
        subscriber_import.skipped_count,
        subscriber_import.error_count,
    ) == (2, 1, 0, 1)
    assert Subscription.objects.filter(mailing_list=mailing_list).count() == 3
    assert ConsentRecord.objects.filter(action=ConsentRecord.Action.IMPORT).count() == 3
    assert [row["problem"] for row in report_rows(subscriber_import)] == ["not a valid email address"]


def test_file_the_csv_module_cannot_read_fails_before_anything_is_stored(mailing_list):
    text = 'email,note\na@example.org,fine\nb@example.org,"' + "x" * 200_000 + "\n"
    subscriber_import = run(create(mailing_list, text), mapping={"email": "email"})
    assert subscriber_import.status == SubscriberImport.Status.FAILED
    assert "cannot be read as CSV at row 3" in subscriber_import.failure_reason
    assert not Subscriber.objects.exists()


def test_file_with_a_header_but_no_rows_fails_with_a_reason(mailing_list):
    subscriber_import = run(create(mailing_list, "email,first_name\n\n"), mapping={"email": "email"})
    assert subscriber_import.status == SubscriberImport.Status.FAILED
    assert subscriber_import.failure_reason == "The file has a header line but no rows."


def test_addresses_with_display_names_are_taken_as_the_address(mailing_list):
    run(create(mailing_list, 'email\n"Anna Ahorn <Anna@Example.org>"\n'))
    assert Subscriber.objects.get().email == "anna@example.org"


def test_row_with_a_too_long_name_does_not_block_a_later_good_row_of_the_same_address(mailing_list):
    subscriber_import = run(create(mailing_list, f"email,first_name\na@example.org,{'n' * 101}\na@example.org,Anna\n"))
    assert (subscriber_import.created_count, subscriber_import.error_count) == (1, 1)
    assert Subscriber.objects.get().first_name == "Anna"


def test_bytes_no_windows_encoding_knows_fall_back_to_latin_1(mailing_list):
    data = "email,first_name\na@example.org,Jürgen\n".encode("latin-1") + b"b@example.org,\x81\n"
    subscriber_import = imports.subscriber_import_create(
        upload=SimpleUploadedFile("x.csv", data),
        mailing_list=mailing_list,
        tags=[],
        consent_basis=DOCUMENTED,
        consent_source="x",
        created_by=None,
    )
    assert imports.parsed_file_of(subscriber_import).encoding == "latin-1"
    run(subscriber_import)
    assert Subscriber.objects.get(email="a@example.org").first_name == "Jürgen"


def test_a_time_zone_column_is_stored_and_an_unknown_zone_rejects_the_row(mailing_list):
    text = "email,zeitzone\na@example.org,America/New_York\nb@example.org,\nc@example.org,Mars/Olympus\n"
    subscriber_import = run(create(mailing_list, text))
    assert subscriber_import.column_mapping["time_zone"] == "zeitzone"
    assert dict(Subscriber.objects.values_list("email", "time_zone")) == {
        "a@example.org": "America/New_York",
        "b@example.org": "",
    }
    assert [(row.email, row.reason) for row in subscriber_import.problems.all()] == [
        ("c@example.org", "unknown_time_zone")
    ]
