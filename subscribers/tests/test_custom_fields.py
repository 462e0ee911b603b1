"""Custom fields: the typing rule, the field definitions, sign-up forms, the preference centre, GDPR."""

import html
import json
import re
import time
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import translation

from subscribers import antispam, links
from subscribers.models import ConsentRecord, CustomField, Subscriber
from subscribers.services import gdpr, optin
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

TOPICS = [
    {"value": "sport", "label_de": "Sport", "label_en": "Sports"},
    {"value": "kultur", "label_de": "Kultur", "label_en": "Culture"},
]


@pytest.fixture(autouse=True)
def _english(in_english):
    """Error messages and pages are checked in their English wording."""


def make(key, kind="text", **extra):
    extra.setdefault("label_de", key.capitalize() + " (de)")
    extra.setdefault("label_en", key.capitalize())
    return CustomField.objects.create(key=key, kind=kind, **extra)


# --- the typing rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        ("text", "  Köln   am Rhein ", "Köln am Rhein"),
        ("text", "", None),
        ("number", "42", 42),
        ("number", "3,5", 3.5),
        ("number", " -7.25 ", -7.25),
        ("number", 12.0, 12),
        ("date", "2026-03-31", "2026-03-31"),
        ("date", "31.3.2026", "2026-03-31"),
        ("date", "2026-03-31T10:00:00", "2026-03-31"),
        ("boolean", "ja", True),
        ("boolean", "No", False),
        ("boolean", True, True),
        ("boolean", "false", False),
        ("choice", "Culture", "kultur"),
        ("choice", "sport", "sport"),
        ("multiple_choice", "Kultur|sport", ["kultur", "sport"]),
        ("multiple_choice", ["sport", "sport"], ["sport"]),
        ("multiple_choice", [], None),
    ],
)
def test_clean_value_stores_each_kind_typed(kind, raw, stored):
    choices = TOPICS if kind in ("choice", "multiple_choice") else []
    field = CustomField(key="x", kind=kind, choices=choices)
    assert field.clean_value(raw) == stored


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("text", "x" * 501, "at most 500 characters"),
        ("number", "zwölf", "Enter a number"),
        ("number", "nan", "Enter a number"),
        ("number", True, "Enter a number"),
        ("date", "2026-02-30", "Enter a date as YYYY-MM-DD or DD.MM.YYYY"),
        ("date", "morgen", "Enter a date"),
        ("boolean", "vielleicht", "Enter yes or no"),
        ("choice", "golf", "“golf” is not one of the options: sport, kultur."),
        ("choice", ["sport", "kultur"], "Choose one option"),
        ("multiple_choice", "sport|golf", "“golf” is not one of the options"),
    ],
)
def test_clean_value_refuses_wrong_types_with_a_clear_message(kind, raw, message):
    choices = TOPICS if kind in ("choice", "multiple_choice") else []
    with pytest.raises(ValidationError) as error:
        CustomField(key="x", kind=kind, choices=choices).clean_value(raw)
    assert message in error.value.messages[0]


@pytest.mark.parametrize(
    ("kind", "key", "choices", "message"),
    [
        ("text", "City", [], "Use lower-case letters"),
        ("text", "1city", [], "Use lower-case letters"),
        ("text", "city", TOPICS, "Only choice fields have options"),
        ("choice", "city", [], "needs at least one option"),
        ("choice", "city", [{"value": "Gross Stadt", "label_de": "a", "label_en": "b"}], "cannot be an option value"),
        ("choice", "city", [{"value": "a", "label_de": "a"}], 'Write each option as {"value"'),
        ("choice", "city", [TOPICS[0], TOPICS[0]], "appears twice"),
        ("choice", "city", [{"value": "a", "label_de": "a", "label_en": " "}], "German and an English label"),
    ],
)
def test_field_definitions_are_checked(kind, key, choices, message):
    field = CustomField(key=key, kind=kind, choices=choices, label_de="Ort", label_en="Place")
    with pytest.raises(ValidationError) as error:
        field.full_clean()
    assert message in " ".join(error.value.messages)


def test_key_never_changes_and_kind_and_used_options_stay_while_values_exist():
    field = make("topics", "multiple_choice", choices=TOPICS)
    field.key = "themen"
    with pytest.raises(ValidationError, match="cannot be changed"):
        field.full_clean()
    field.key = "topics"
    field.kind = "text"
    field.choices = []
    field.full_clean()  # nobody holds a value yet

    field.refresh_from_db()
    SubscriberFactory(fields={"topics": ["sport"]})
    field.choices = TOPICS[1:]
    with pytest.raises(ValidationError, match="Subscribers chose “sport”"):
        field.full_clean()
    field.choices = TOPICS[:1]
    field.full_clean()  # nobody chose "kultur"
    field.kind = "text"
    field.choices = []
    with pytest.raises(ValidationError, match="its kind cannot be changed"):
        field.full_clean()


def test_label_and_help_follow_the_readers_language():
    field = make("city", label_de="Wohnort", label_en="City", help_de="Für Veranstaltungen", help_en="For events")
    assert (field.label("de"), field.help_text("de")) == ("Wohnort", "Für Veranstaltungen")
    assert (field.label("en"), field.help_text("en")) == ("City", "For events")


# --- sign-up forms ---------------------------------------------------------------------------------


@pytest.fixture
def signup_fields(mailing_list):
    other = MailingListFactory()
    city = make("city", required=True, all_lists=True, help_en="Where we invite you to events")
    birthday = make("birthday", "date")
    birthday.mailing_lists.set([mailing_list])
    topics = make("topics", "multiple_choice", choices=TOPICS)
    topics.mailing_lists.set([mailing_list])
    hidden = make("internal_score", "number")
    elsewhere = make("shoe_size", "number")
    elsewhere.mailing_lists.set([other])
    return {"city": city, "birthday": birthday, "topics": topics, "hidden": hidden, "other_list": other}


def sign_up(client, mailing_list, **fields):
    started = antispam.form_started_token(now=time.time() - 10)
    data = {"email": "neu@example.org", "first_name": "Nina", "consent": "on", "started": started, **fields}
    with translation.override("en"):
        return client.post(
            reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug}),
            data,
            REMOTE_ADDR="203.0.113.9",
            HTTP_ACCEPT_LANGUAGE="en",
        )


def test_sign_up_form_shows_the_lists_fields_in_the_readers_language(client, mailing_list, signup_fields):
    page = client.get(reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug}), HTTP_ACCEPT_LANGUAGE="en")
    text = html.unescape(page.text)
    assert 'name="field_city"' in text and "Where we invite you to events" in text
    assert 'name="field_birthday"' in text and 'type="date"' in text
    assert 'name="field_topics"' in text and "Culture" in text
    assert "field_internal_score" not in text, "not chosen for any sign-up form"
    assert "field_shoe_size" not in text, "chosen for another list only"
    german = client.get(reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug}), HTTP_ACCEPT_LANGUAGE="de")
    assert "City (de)" in html.unescape(german.text)


def test_sign_up_refuses_missing_required_and_mistyped_values_and_stores_nothing(client, mailing_list, signup_fields):
    response = sign_up(client, mailing_list, field_birthday="31.02.1990", field_topics=["golf"])
    assert response.status_code == 400
    text = html.unescape(response.text)
    assert "This field is required." in text
    assert "Enter a date as YYYY-MM-DD or DD.MM.YYYY" in text
    assert "golf" in text  # Django's own choice check names the unknown option
    assert not Subscriber.objects.exists()


def test_sign_up_stores_typed_values_with_the_pending_subscriber_until_confirmation(
    client, mailing_list, signup_fields, consent_text
):
    response = sign_up(
        client,
        mailing_list,
        field_city="Köln",
        field_birthday="1990-05-17",
        field_topics=["kultur", "sport"],
        field_internal_score="99",
    )
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.PENDING
    assert subscriber.fields == {"city": "Köln", "birthday": "1990-05-17", "topics": ["kultur", "sport"]}

    subscription = subscriber.subscriptions.get()
    token = urlsplit(optin.confirmation_url(subscription=subscription)).path.rstrip("/").rsplit("/", 1)[-1]
    optin.subscription_confirm(token=token)
    subscriber.refresh_from_db()
    assert subscriber.status == Subscriber.Status.ACTIVE
    assert subscriber.fields["birthday"] == "1990-05-17"


def test_a_stranger_cannot_overwrite_an_active_subscribers_values_by_signing_up(client, mailing_list, signup_fields):
    SubscriberFactory(email="neu@example.org", fields={"city": "Wien"})
    assert sign_up(client, mailing_list, field_city="Graz").status_code == 302
    assert Subscriber.objects.get().fields == {"city": "Wien"}


def test_embedded_snippet_carries_the_fields_and_the_endpoint_checks_them(
    client, mailing_list, signup_fields, settings
):
    settings.KANAL_EMBED_ORIGINS = ["https://shop.example.com"]
    editor = get_user_model().objects.create_user("editor", password="pw", is_staff=True)
    editor.user_permissions.add(Permission.objects.get(codename="view_mailinglist"))
    client.force_login(editor)
    page = client.get(reverse("subscribers:subscribe_embed_code", kwargs={"slug": mailing_list.slug}))
    snippet = html.unescape(page.text)
    assert 'name="field_city"' in snippet and "required" in snippet
    assert 'type="checkbox" name="field_topics" value="kultur"' in snippet

    shop = Client(enforce_csrf_checks=True)
    url = reverse("subscribers:subscribe_embedded", kwargs={"slug": mailing_list.slug})
    data = {"email": "shop@example.org", "consent": "on", "language": "en"}
    assert shop.post(url, data, HTTP_ORIGIN="https://shop.example.com").status_code == 400
    response = shop.post(url, {**data, "field_city": "Bonn"}, HTTP_ORIGIN="https://shop.example.com")
    assert response.status_code == 302
    assert Subscriber.objects.get(email="shop@example.org").fields == {"city": "Bonn"}


# --- preference centre -----------------------------------------------------------------------------


@pytest.fixture
def reader(mailing_list):
    subscriber = SubscriberFactory(
        email="leser@example.org", language="en", fields={"city": "Köln", "member_since": "2019-04-01"}
    )
    SubscriptionFactory(subscriber=subscriber, mailing_list=mailing_list)
    make("city", in_preferences=True, required=True)
    make("topics", "multiple_choice", choices=TOPICS, in_preferences=True)
    make("member_since", "date", in_preferences=True, editable=False)
    make("internal_score", "number")
    return subscriber


def preferences(client, subscriber, **data):
    path = urlsplit(links.preferences_url(subscriber)).path
    if not data:
        return client.get(path)
    form = {"first_name": "Erika", "last_name": "M", "language": "en", "mailing_lists": [], **data}
    return client.post(path, form)


def test_preference_centre_edits_editable_fields_and_shows_the_others_read_only(client, reader):
    page = html.unescape(preferences(client, reader).text)
    assert 'name="field_city"' in page and 'value="Köln"' in page
    assert 'name="field_topics"' in page
    assert 'name="field_member_since"' in page and "disabled" in page.split('name="field_member_since"')[1][:200]
    assert "field_internal_score" not in page

    response = preferences(
        client,
        reader,
        field_city="Bonn",
        field_topics=["sport"],
        field_member_since="2001-01-01",
        field_internal_score="5",
    )
    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.fields == {"city": "Bonn", "topics": ["sport"], "member_since": "2019-04-01"}
    record = ConsentRecord.objects.filter(subscriber=reader, action=ConsentRecord.Action.PREFERENCES).get()
    assert record.details["changed"]["fields.city"] == {"from": "Köln", "to": "Bonn"}
    assert record.details["changed"]["fields.topics"] == {"from": None, "to": ["sport"]}


def test_preference_centre_keeps_a_required_value_but_lets_an_empty_one_stay_empty(client, reader):
    response = preferences(client, reader, field_city="")
    assert response.status_code == 400
    assert "This field is required." in html.unescape(response.text)
    reader.refresh_from_db()
    assert reader.fields["city"] == "Köln"

    reader.fields = {}
    reader.save()
    assert preferences(client, reader, field_city="").status_code == 200


def test_preference_centre_refuses_a_mistyped_value(client, reader):
    CustomField.objects.filter(key="city").update(kind="number")
    response = preferences(client, reader, field_city="viele")
    assert response.status_code == 400
    assert "Enter a number" in html.unescape(response.text)


# --- GDPR ------------------------------------------------------------------------------------------


def test_gdpr_export_holds_the_values_and_erase_removes_them(reader):
    data = gdpr.subscriber_export(subscriber=reader)
    assert data["custom_fields"] == {"city": "Köln", "member_since": "2019-04-01"}
    json.dumps(data)
    gdpr.subscriber_erase(subscriber=reader)
    assert not Subscriber.objects.filter(email="leser@example.org").exists()
    assert not Subscriber.objects.filter(fields__has_key="city").exists()
    assert "Köln" not in json.dumps(list(ConsentRecord.objects.values_list("details", flat=True)))


# --- CSV import ------------------------------------------------------------------------------------


def import_file(mailing_list, text, mapping=None):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from subscribers.services import imports

    subscriber_import = imports.subscriber_import_create(
        upload=SimpleUploadedFile("list.csv", text.encode(), content_type="text/csv"),
        mailing_list=mailing_list,
        tags=[],
        consent_basis="documented",
        consent_source="Messe 2026",
        created_by=None,
    )
    imports.subscriber_import_start(
        subscriber_import=subscriber_import, column_mapping=mapping or subscriber_import.column_mapping
    )
    imports.subscriber_import_run(import_id=subscriber_import.pk)
    subscriber_import.refresh_from_db()
    return subscriber_import


def test_import_maps_columns_to_fields_and_reports_type_errors_per_row(mailing_list):
    from newsletter_site.csv_export import csv_lines
    from subscribers.selectors import import_problem_counts, import_report_rows

    make("birthday", "date", label_de="Geburtstag", label_en="Birthday")
    make("topics", "multiple_choice", choices=TOPICS, label_de="Interessen", label_en="Interests")
    make("customer", "boolean")
    text = (
        "E-Mail;Geburtstag;Interessen;Kunde\n"
        "a@example.org;17.05.1990;Kultur|sport;ja\n"
        "b@example.org;1990-13-01;sport;nein\n"
        "c@example.org;;golf;\n"
        "d@example.org;;;\n"
    )
    subscriber_import = import_file(mailing_list, text, mapping=None)
    assert subscriber_import.column_mapping == {
        "email": "E-Mail",
        "fields.birthday": "Geburtstag",
        "fields.topics": "Interessen",
    }, "columns named like a field's key or label are guessed"

    mailing_list_two = MailingListFactory()
    mapping = {
        "email": "E-Mail",
        "fields.birthday": "Geburtstag",
        "fields.topics": "Interessen",
        "fields.customer": "Kunde",
    }
    Subscriber.objects.all().delete()
    subscriber_import = import_file(mailing_list_two, text, mapping=mapping)

    assert (subscriber_import.created_count, subscriber_import.error_count) == (2, 2)
    stored = dict(Subscriber.objects.values_list("email", "fields"))
    assert stored == {
        "a@example.org": {"birthday": "1990-05-17", "topics": ["kultur", "sport"], "customer": True},
        "d@example.org": {},
    }
    report = "".join(csv_lines(import_report_rows(subscriber_import=subscriber_import)))
    assert "b@example.org" in report
    assert "value does not fit the custom field “Birthday”: a date as YYYY-MM-DD or DD.MM.YYYY" in report
    assert "value does not fit the custom field “Interests”: options separated by | or ," in report
    assert dict(import_problem_counts(subscriber_import=subscriber_import)) == {
        "value does not fit the custom field “Birthday”: a date as YYYY-MM-DD or DD.MM.YYYY": 1,
        "value does not fit the custom field “Interests”: options separated by | or ,": 1,
    }


def test_import_never_overwrites_the_values_of_an_existing_subscriber(mailing_list):
    make("city")
    SubscriberFactory(email="a@example.org", fields={"city": "Wien"})
    import_file(mailing_list, "email,city\na@example.org,Graz\nb@example.org,Linz\n")
    assert dict(Subscriber.objects.values_list("email", "fields")) == {
        "a@example.org": {"city": "Wien"},
        "b@example.org": {"city": "Linz"},
    }


def test_import_of_a_field_deleted_after_mapping_fails_with_a_clear_reason(mailing_list):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from subscribers.services import imports

    make("city")
    subscriber_import = imports.subscriber_import_create(
        upload=SimpleUploadedFile("list.csv", b"email,city\na@example.org,Graz\n", content_type="text/csv"),
        mailing_list=mailing_list,
        tags=[],
        consent_basis="documented",
        consent_source="Messe 2026",
        created_by=None,
    )
    imports.subscriber_import_start(
        subscriber_import=subscriber_import, column_mapping=subscriber_import.column_mapping
    )
    CustomField.objects.all().delete()
    imports.subscriber_import_run(import_id=subscriber_import.pk)
    subscriber_import.refresh_from_db()
    assert subscriber_import.status == "failed"
    assert subscriber_import.failure_reason == "There is no custom field “city” any more."
    assert not Subscriber.objects.exists()


# --- admin -----------------------------------------------------------------------------------------


def test_admin_csv_export_has_a_column_per_field_that_imports_again(admin_client, mailing_list):
    import csv
    import io

    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    make("city")
    make("topics", "multiple_choice", choices=TOPICS)
    make("customer", "boolean")
    make("visits", "number")
    subscriber = SubscriberFactory(
        email="a@example.org", fields={"city": "=Köln", "topics": ["kultur", "sport"], "customer": True, "visits": 3}
    )
    response = admin_client.post(
        reverse("admin:subscribers_subscriber_changelist"),
        {"action": "export_csv", ACTION_CHECKBOX_NAME: [str(subscriber.pk)]},
    )
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    (row,) = csv.DictReader(io.StringIO(text))
    assert (row["city"], row["topics"], row["customer"], row["visits"]) == ("'=Köln", "kultur|sport", "yes", "3")

    Subscriber.objects.all().delete()
    import_file(mailing_list, text)
    assert Subscriber.objects.get().fields == {
        "city": "'=Köln",
        "topics": ["kultur", "sport"],
        "customer": True,
        "visits": 3,
    }


def test_admin_edits_values_with_a_widget_per_kind_and_checks_them(admin_client):
    make("birthday", "date", required=True)
    make("topics", "multiple_choice", choices=TOPICS)
    subscriber = SubscriberFactory(email="a@example.org", fields={"birthday": "1990-05-17", "old": "kept"})
    url = reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])
    page = admin_client.get(url).text
    assert 'name="field_birthday"' in page and 'value="1990-05-17"' in page
    assert 'type="checkbox" name="field_topics"' in page

    form = {
        "email": "a@example.org",
        "first_name": "A",
        "last_name": "",
        "language": "de",
        "status": "active",
        "subscriptions-TOTAL_FORMS": "0",
        "subscriptions-INITIAL_FORMS": "0",
        "consent_records-TOTAL_FORMS": "0",
        "consent_records-INITIAL_FORMS": "0",
        # The management forms of inlines other apps add to the page (SUBSCRIBER_ADMIN_INLINES).
        **dict(re.findall(r'name="([\w-]+-(?:TOTAL|INITIAL)_FORMS)" value="(\d+)"', page)),
    }
    refused = admin_client.post(url, {**form, "field_birthday": "17.13.1990"})
    assert refused.status_code == 200
    assert "Enter a date as YYYY-MM-DD or DD.MM.YYYY" in html.unescape(refused.text)
    saved = admin_client.post(url, {**form, "field_birthday": "", "field_topics": ["sport"]})
    assert saved.status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.fields == {"topics": ["sport"], "old": "kept"}, "staff may leave a required field empty"


def test_deleting_a_field_in_the_admin_deletes_every_value_of_it(admin_client):
    field = make("city")
    SubscriberFactory(email="a@example.org", fields={"city": "Köln", "age": 3})
    SubscriberFactory(email="b@example.org", fields={})
    response = admin_client.post(reverse("admin:subscribers_customfield_delete", args=[field.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not CustomField.objects.exists()
    assert dict(Subscriber.objects.values_list("email", "fields")) == {"a@example.org": {"age": 3}, "b@example.org": {}}


def test_field_admin_refuses_bad_choices_json_and_keeps_the_key(admin_client):
    add = admin_client.post(
        reverse("admin:subscribers_customfield_add"),
        {
            "key": "city",
            "kind": "choice",
            "label_de": "Ort",
            "label_en": "City",
            "choices": '[{"value": "Köln"}]',
            "position": "0",
        },
    )
    assert add.status_code == 200
    assert 'Write each option as {"value"' in html.unescape(add.text)
    field = make("city")
    page = admin_client.get(reverse("admin:subscribers_customfield_change", args=[field.pk])).text
    assert 'name="key"' not in page
