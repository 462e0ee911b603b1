import codecs
import csv
import io
import json
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.test import Client
from django.urls import reverse
from django.utils import translation

from subscribers.models import (
    ConfirmationMail,
    ConsentRecord,
    ConsentText,
    Subscriber,
    SubscriberImport,
    Subscription,
    SuppressedAddress,
)
from subscribers.services import imports, optin
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Reports are written in the active language; these tests read the English wording."""
    with translation.override("en"):
        yield


CHANGELIST = "admin:subscribers_subscriber_changelist"


@pytest.fixture
def staff(admin_client):
    return admin_client


def run_action(client, action, subscribers, **extra):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, ACTION_CHECKBOX_NAME: [str(s.pk) for s in subscribers], **extra},
    )


def test_import_flow_upload_map_start_progress_report(staff, mailing_list, django_capture_on_commit_callbacks):
    tag = TagFactory(name="messe")
    csv_bytes = b"Adresse;Vorname\nanna@example.org;Anna\nkaputt;X\n"
    response = staff.post(
        reverse("admin:subscribers_subscriberimport_add"),
        {
            "csv_file": SimpleUploadedFile("messe.csv", csv_bytes),
            "mailing_list": mailing_list.pk,
            "tags": [tag.pk],
            "consent_basis": "documented",
            "consent_source": "Messe 2026",
        },
    )
    subscriber_import = SubscriberImport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:subscribers_subscriberimport_mapping", args=[subscriber_import.pk])

    mapping_page = staff.get(response["Location"], headers={"accept-language": "en"})
    assert mapping_page.status_code == 200
    assert "Read as UTF-8, separated by semicolon." in mapping_page.text
    assert "anna@example.org" in mapping_page.text and "kaputt" in mapping_page.text
    assert '<option value="Adresse" selected>' in mapping_page.text

    with django_capture_on_commit_callbacks() as callbacks:
        started = staff.post(response["Location"], {"email": "Adresse", "first_name": "Vorname"})
    assert started.status_code == 302 and len(callbacks) == 1
    assert callbacks[0].func.__self__.name == "subscribers.tasks.import_subscribers"
    queued = staff.get(started["Location"], headers={"accept-language": "en"})
    assert 'data-field="status_display">queued<' in queued.text and "report.csv" not in queued.text
    queued_progress = staff.get(reverse("admin:subscribers_subscriberimport_progress", args=[subscriber_import.pk]))
    assert queued_progress.json()["status"] == "queued" and queued_progress.json()["finished"] is False
    with translation.override("en"):
        imports.subscriber_import_run(import_id=subscriber_import.pk)

    detail = staff.get(started["Location"], headers={"accept-language": "en"})
    assert detail.status_code == 200 and "<progress" in detail.text
    # Readable without JavaScript: the counts and the report link are in the page itself.
    assert '<td data-field="created">1</td>' in detail.text
    assert '<td data-field="errors">1</td>' in detail.text
    assert "Adresse → Email address, Vorname → First name" in detail.text
    assert reverse("admin:subscribers_subscriberimport_report", args=[subscriber_import.pk]) in detail.text
    progress = staff.get(reverse("admin:subscribers_subscriberimport_progress", args=[subscriber_import.pk])).json()
    assert progress | {"status_display": None} == {
        "status": "done",
        "status_display": None,
        "total_rows": 2,
        "processed_rows": 2,
        "percent": 100,
        "created": 1,
        "updated": 0,
        "skipped": 0,
        "errors": 1,
        "failure_reason": "",
        "finished": True,
    }
    report = staff.get(
        reverse("admin:subscribers_subscriberimport_report", args=[subscriber_import.pk]),
        headers={"accept-language": "en"},
    )
    assert csv_download(report) == [
        ["row", "email", "problem"],
        ["3", "kaputt", "not a valid email address"],
    ]
    assert Subscriber.objects.get().tags.get() == tag


def test_upload_with_documented_basis_but_no_source_stores_nothing(staff, mailing_list):
    response = staff.post(
        reverse("admin:subscribers_subscriberimport_add"),
        {
            "csv_file": SimpleUploadedFile("x.csv", b"email\na@example.org\n"),
            "mailing_list": mailing_list.pk,
            "consent_basis": "documented",
            "consent_source": "",
        },
    )
    assert response.status_code == 400
    assert "documented" in response.text
    assert not SubscriberImport.objects.exists()


def test_upload_of_a_broken_file_shows_the_reason(staff, mailing_list):
    response = staff.post(
        reverse("admin:subscribers_subscriberimport_add"),
        {
            "csv_file": SimpleUploadedFile("x.csv", b""),
            "mailing_list": mailing_list.pk,
            "consent_basis": "double_opt_in",
        },
    )
    assert response.status_code == 400
    assert not SubscriberImport.objects.exists()


def test_changelist_search_and_filters(staff, mailing_list):
    SubscriptionFactory(mailing_list=mailing_list, subscriber=SubscriberFactory(email="anna@example.org"))
    SubscriberFactory(email="bernd@example.org", status=Subscriber.Status.BOUNCED)
    SubscriberFactory(email="carla@example.org", language="en")
    SubscriptionFactory(mailing_list=MailingListFactory(), subscriber=SubscriberFactory(email="dora@example.org"))

    def emails(**params):
        response = staff.get(reverse(CHANGELIST), params)
        assert response.status_code == 200
        return sorted(s.email for s in response.context["cl"].result_list)

    assert emails(q="bernd") == ["bernd@example.org"]
    assert emails(status__exact="bounced") == ["bernd@example.org"]
    assert emails(language__exact="en") == ["carla@example.org"]
    assert emails(tracking_consent__exact="1") == []
    assert emails(subscriptions__mailing_list__id__exact=mailing_list.pk) == ["anna@example.org"]
    Subscriber.objects.get(email="carla@example.org").tags.add(TagFactory(name="messe"))
    assert emails(tags__id__exact=Subscriber.objects.get(email="carla@example.org").tags.get().pk) == [
        "carla@example.org"
    ]
    assert emails(q="example.org", status__exact="active", language__exact="de") == [
        "anna@example.org",
        "dora@example.org",
    ]


def test_consent_history_inline_is_read_only(staff, mailing_list, consent_text):
    outcome = optin.subscriber_subscribe(email="a@example.org", mailing_list=mailing_list, consent_text=consent_text)
    response = staff.get(reverse("admin:subscribers_subscriber_change", args=[outcome.subscription.subscriber_id]))
    assert response.status_code == 200
    assert consent_text.text in response.text
    assert "consent_records-0-action" not in response.text, "no editable widgets for consent records"
    record = ConsentRecord.objects.get()
    assert staff.get(reverse("admin:subscribers_consentrecord_change", args=[record.pk])).status_code == 200
    assert staff.post(reverse("admin:subscribers_consentrecord_delete", args=[record.pk])).status_code == 403


def test_consent_text_versions_cannot_be_edited(staff):
    text = ConsentText.objects.create(version=1, language="de", text="Original")
    staff.post(reverse("admin:subscribers_consenttext_change", args=[text.pk]), {"text": "Changed"})
    text.refresh_from_db()
    assert text.text == "Original"


def test_action_resend_confirmation_respects_the_cap(staff, mailing_list, settings):
    settings.KANAL_CONFIRMATION_MAILS_PER_ADDRESS_PER_DAY = 2
    pending = SubscriptionFactory(
        mailing_list=mailing_list,
        status=Subscription.Status.PENDING,
        confirmation_nonce="abc",
        subscriber=SubscriberFactory(status=Subscriber.Status.PENDING),
    ).subscriber
    active = SubscriptionFactory(mailing_list=mailing_list).subscriber
    for _ in range(3):
        run_action(staff, "resend_confirmation", [pending, active])
    assert ConfirmationMail.objects.count() == 2
    optin.confirmation_mail_send(confirmation_mail_id=ConfirmationMail.objects.first().pk)
    assert [m.to for m in mail.outbox] == [[pending.email]]


def test_action_unsubscribe(staff, mailing_list):
    subscriber = SubscriptionFactory(mailing_list=mailing_list).subscriber
    run_action(staff, "unsubscribe", [subscriber])
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.UNSUBSCRIBED
    record = ConsentRecord.objects.get()
    assert record.actor.username == "admin" and record.details == {"source": "admin"}


def test_action_erase_asks_first_then_erases(staff, mailing_list):
    subscriber = SubscriptionFactory(mailing_list=mailing_list).subscriber
    confirm_page = run_action(staff, "erase", [subscriber])
    assert confirm_page.status_code == 200 and subscriber.email in confirm_page.text
    assert Subscriber.objects.exists()
    run_action(staff, "erase", [subscriber], confirmed="yes")
    assert not Subscriber.objects.exists()
    assert SuppressedAddress.objects.count() == 1


def test_action_export_json_and_csv(staff, mailing_list):
    first = SubscriptionFactory(
        mailing_list=mailing_list, subscriber=SubscriberFactory(email="a@example.org")
    ).subscriber
    second = SubscriberFactory(email="b@example.org")
    single = run_action(staff, "export_json", [first])
    assert json.loads(single.content)["profile"]["email"] == "a@example.org"
    both = run_action(staff, "export_json", [first, second])
    assert sorted(item["profile"]["email"] for item in json.loads(both.content)) == ["a@example.org", "b@example.org"]

    exported = run_action(staff, "export_csv", [first, second])
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode("utf-8-sig"))))
    assert [(row["email"], row["lists"]) for row in rows] == [
        ("a@example.org", mailing_list.name),
        ("b@example.org", ""),
    ]


def test_consent_proof_export_per_list(staff, consent_text):
    news, events = MailingListFactory(name="News"), MailingListFactory(name="Events")
    optin.subscriber_subscribe(email="a@example.org", mailing_list=news, consent_text=consent_text)
    optin.subscriber_subscribe(email="b@example.org", mailing_list=events, consent_text=consent_text)
    response = staff.post(
        reverse("admin:subscribers_mailinglist_changelist"),
        {"action": "export_consent_proof", ACTION_CHECKBOX_NAME: [str(events.pk)]},
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [(row["email"], row["mailing_list"]) for row in rows] == [("b@example.org", "Events")]


def test_mailing_list_changelist_counts_subscriptions(staff, mailing_list):
    SubscriptionFactory.create_batch(2, mailing_list=mailing_list)
    SubscriptionFactory(mailing_list=mailing_list, status=Subscription.Status.UNSUBSCRIBED)
    response = staff.get(reverse("admin:subscribers_mailinglist_changelist"))
    (row,) = response.context["cl"].result_list
    assert (row.active, row.pending, row.unsubscribed) == (2, 0, 1)


def test_csv_export_has_every_column_a_marketer_needs(staff, mailing_list):
    subscriber = SubscriptionFactory(
        mailing_list=mailing_list,
        subscriber=SubscriberFactory(email="a@example.org", first_name="Anna", last_name="Ahorn", language="en"),
    ).subscriber
    subscriber.tags.add(TagFactory(name="messe"), TagFactory(name="vip"))
    exported = run_action(staff, "export_csv", [subscriber])
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    (row,) = csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode("utf-8-sig")))
    assert row | {"created_at": None} == {
        "email": "a@example.org",
        "first_name": "Anna",
        "last_name": "Ahorn",
        "language": "en",
        "status": "active",
        "lists": "Kanal News",
        "tags": "messe|vip",
        "created_at": None,
    }
    assert row["created_at"].startswith(str(subscriber.created_at.year))


def test_import_of_the_subscribers_admin_is_wired_to_its_actions(staff):
    response = staff.get(reverse(CHANGELIST))
    actions = dict(response.context["action_form"].fields["action"].choices)
    assert {"resend_confirmation", "unsubscribe", "erase", "export_json", "export_csv"} <= set(actions)


def test_subscriber_changelist_links_to_the_import(staff):
    response = staff.get(reverse(CHANGELIST))
    assert reverse("admin:subscribers_subscriberimport_add") in response.text


def test_upload_over_the_size_limit_says_so_and_stores_nothing(staff, mailing_list, settings):
    settings.KANAL_IMPORT_MAX_BYTES = 1000
    response = staff.post(
        reverse("admin:subscribers_subscriberimport_add"),
        {
            "csv_file": SimpleUploadedFile("big.csv", b"email\n" + b"a@example.org\n" * 100),
            "mailing_list": mailing_list.pk,
            "consent_basis": "double_opt_in",
        },
        headers={"accept-language": "en"},
    )
    assert response.status_code == 400
    assert "The file is larger than 1000\xa0bytes." in response.text
    assert not SubscriberImport.objects.exists()


def test_mapping_without_an_email_column_is_refused(staff, mailing_list):
    subscriber_import = imports.subscriber_import_create(
        upload=SimpleUploadedFile("x.csv", b"Kunde,Ort\nAnna,Bonn\n"),
        mailing_list=mailing_list,
        tags=[],
        consent_basis="double_opt_in",
        consent_source="",
        created_by=None,
    )
    url = reverse("admin:subscribers_subscriberimport_mapping", args=[subscriber_import.pk])
    response = staff.post(url, {"email": "", "first_name": "Kunde"})
    assert response.status_code == 200 and response.context["form"].errors["email"]
    subscriber_import.refresh_from_db()
    assert subscriber_import.status == SubscriberImport.Status.UPLOADED


# CSV downloads and import limits ------------------------------------------------------------------


def csv_download(response) -> list[list[str]]:
    """The rows of a CSV download; it starts with a UTF-8 BOM so Excel reads umlauts."""
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename=")
    body = b"".join(response.streaming_content)
    assert body.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_subscriber_export_escapes_a_formula_in_a_name(staff):
    subscriber = SubscriberFactory(email="a@example.org", first_name='=HYPERLINK("https://evil.example","Jörg")')
    header, row = csv_download(run_action(staff, "export_csv", [subscriber]))
    assert row[header.index("first_name")] == "'" + subscriber.first_name


def test_consent_proof_export_escapes_what_strangers_sent(staff, mailing_list, consent_text):
    outcome = optin.subscriber_subscribe(
        email="a@example.org",
        mailing_list=mailing_list,
        consent_text=consent_text,
        user_agent="@SUM(1+1)*cmd|' /C calc'!A0",
        source_url="-2+3",
    )
    header, row = csv_download(run_action(staff, "export_consent_proof", [outcome.subscription.subscriber]))
    assert row[header.index("user_agent")] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert row[header.index("source_url")] == "'-2+3"


def test_import_report_escapes_a_formula_from_the_file(staff, mailing_list):
    subscriber_import = imports.subscriber_import_create(
        upload=SimpleUploadedFile("x.csv", b"email\n+cmd|' /C calc'!A0\nok@example.org\n"),
        mailing_list=mailing_list,
        tags=[],
        consent_basis="documented",
        consent_source="Messe",
        created_by=None,
    )
    imports.subscriber_import_start(subscriber_import=subscriber_import, column_mapping={"email": "email"})
    imports.subscriber_import_run(import_id=subscriber_import.pk)
    report = staff.get(
        reverse("admin:subscribers_subscriberimport_report", args=[subscriber_import.pk]),
        headers={"accept-language": "en"},
    )
    assert csv_download(report) == [
        ["row", "email", "problem"],
        ["2", "'+cmd|' /C calc'!A0", "not a valid email address"],
    ]


def test_report_of_a_large_import_keeps_the_first_rows_and_counts_every_reason(staff, mailing_list, settings):
    settings.KANAL_IMPORT_REPORT_MAX_ROWS = 50
    lines = ["email,first_name"]
    for n in range(600):
        lines.append([f"broken-{n}", f",Nobody {n}", f"u{n}@example.org,U", "u2@example.org,Again"][n % 4])
    subscriber_import = imports.subscriber_import_create(
        upload=SimpleUploadedFile("big.csv", "\n".join(lines).encode()),
        mailing_list=mailing_list,
        tags=[],
        consent_basis="documented",
        consent_source="Messe",
        created_by=None,
    )
    imports.subscriber_import_start(subscriber_import=subscriber_import, column_mapping={"email": "email"})
    imports.subscriber_import_run(import_id=subscriber_import.pk)
    subscriber_import.refresh_from_db()
    assert (subscriber_import.created_count, subscriber_import.skipped_count, subscriber_import.error_count) == (
        150,
        150,
        300,
    )

    report = csv_download(staff.get(reverse("admin:subscribers_subscriberimport_report", args=[subscriber_import.pk])))
    assert len(report) == 1 + 50
    assert [int(row[0]) for row in report[1:]] == sorted(n + 2 for n in range(67) if n % 4 != 2)[:50]

    detail = staff.get(
        reverse("admin:subscribers_subscriberimport_change", args=[subscriber_import.pk]),
        headers={"accept-language": "en"},
    )
    counts = {
        reason: int(count)
        for reason, count in re.findall(r'<tr class="problem"><th scope="row">([^<]+)</th><td>(\d+)</td>', detail.text)
    }
    assert counts == {"not a valid email address": 150, "no email address": 150, "duplicate in this file": 150}
    assert "The report lists the first 50 of 450 rows with a problem." in detail.text


def test_upload_over_the_limit_is_refused_before_it_is_spooled(admin_user, mailing_list, settings, tmp_path):
    settings.KANAL_IMPORT_MAX_BYTES = 100_000
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every accepted upload goes to a temporary file
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    spooled = []
    original = TemporaryFileUploadHandler.receive_data_chunk

    def counting(self, raw_data, start):
        spooled.append(len(raw_data))
        return original(self, raw_data, start)

    # A real browser session: the CSRF check reads the form, so the size limit must be in place before it.
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    url = reverse("admin:subscribers_subscriberimport_add")
    client.get(url)
    tag = TagFactory(name="messe")

    def post(size):
        data = b"email\n" + b"a@example.org\n" * (size // 14)
        return client.post(
            url,
            {
                "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
                "mailing_list": mailing_list.pk,
                "csv_file": SimpleUploadedFile("big.csv", data),
                "tags": [tag.pk],
                "consent_basis": "documented",
                "consent_source": "Messe 2026, Ordner 7",
            },
            headers={"accept-language": "en"},
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TemporaryFileUploadHandler, "receive_data_chunk", counting)
        far_over = post(1_000_000)
        assert sum(spooled) == 0, "the request is larger than the limit allows: nothing is written"
        just_over = post(100_200)
        assert 0 < sum(spooled) <= 100_000, "reading stops at the limit"

    for response in (far_over, just_over):
        assert response.status_code == 400
        assert "The file is larger than 97.7\xa0KB." in response.text
        # Nothing else the user entered is lost.
        assert f'<option value="{mailing_list.pk}" selected>' in response.text
        assert f'<option value="{tag.pk}" selected>' in response.text
        assert 'value="Messe 2026, Ordner 7"' in response.text
    assert list(tmp_path.iterdir()) == []
    assert not SubscriberImport.objects.exists()

    accepted = post(50_000)
    assert accepted.status_code == 302
    assert SubscriberImport.objects.count() == 1
    assert client.post(url, {"mailing_list": mailing_list.pk}).status_code == 403, "the CSRF check still applies"
