# LEAD NOTE (temporary): the lead already wrote and committed this file while you were starting. Do not replace it; read it, extend it only if your task needs more, and say so in your report.
import csv
import io
import time

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from subscribers.models import (
    ConfirmationMail,
    ConsentRecord,
    Subscriber,
    SubscriberImport,
    Subscription,
    SuppressedAddress,
    email_hash,
)
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
    return list(csv.DictReader(io.StringIO(subscriber_import.error_report)))


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
    rows = imports.preview(parsed)
    assert parsed.header == ["email", "name"]
    assert len(rows) == imports.PREVIEW_ROWS
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
def test_import_runs_in_a_real_worker(mailing_list, celery_worker_thread):
    subscriber_import = create(mailing_list, "email\nw1@example.org\nw2@example.org\n")
    imports.subscriber_import_start(subscriber_import=subscriber_import, column_mapping={"email": "email"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        subscriber_import.refresh_from_db()
        if subscriber_import.status == SubscriberImport.Status.DONE:
            break
        time.sleep(0.05)
    assert subscriber_import.status == SubscriberImport.Status.DONE
    assert Subscriber.objects.count() == 2
