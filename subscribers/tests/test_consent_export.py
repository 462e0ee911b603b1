import csv
import io

import pytest

from newsletter_site.csv_export import csv_lines
from subscribers.consent_export import COLUMNS, consent_records_for, consent_records_rows
from subscribers.models import ConsentRecord
from subscribers.services import optin
from subscribers.tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db


def parsed(rows) -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(csv_lines(rows)))))


def test_consent_proof_lists_signup_and_confirmation_with_the_text_shown(mailing_list, consent_text):
    outcome = optin.subscriber_subscribe(
        email="erika@example.org",
        mailing_list=mailing_list,
        consent_text=consent_text,
        ip_address="203.0.113.9",
        user_agent='Mozilla/5.0, "quoted"',
        source_url="https://shop.example.com/",
    )
    optin.subscription_confirm(
        token=optin.confirmation_url(subscription=outcome.subscription).rstrip("/").rsplit("/", 1)[-1],
        ip_address="198.51.100.1",
    )

    rows = parsed(consent_records_rows(consent_records_for(subscriber=outcome.subscription.subscriber)))

    assert list(rows[0].keys()) == COLUMNS
    assert [row["action"] for row in rows] == [
        ConsentRecord.Action.SIGNUP.label,
        ConsentRecord.Action.CONFIRM.label,
    ]
    signup, confirm = rows
    assert signup["email"] == "erika@example.org"
    assert signup["ip_address"] == "203.0.113.9"
    assert signup["user_agent"] == 'Mozilla/5.0, "quoted"'
    assert signup["consent_text_shown"] == consent_text.text
    assert signup["consent_text_version"] == str(consent_text.version)
    assert confirm["ip_address"] == "198.51.100.1"


def test_consent_proof_per_list_leaves_other_lists_out(mailing_list, consent_text):
    other = MailingListFactory()
    optin.subscriber_subscribe(email="a@example.org", mailing_list=mailing_list, consent_text=consent_text)
    optin.subscriber_subscribe(email="b@example.org", mailing_list=other, consent_text=consent_text)
    rows = parsed(consent_records_rows(consent_records_for(mailing_list=other)))
    assert [row["email"] for row in rows] == ["b@example.org"]


def test_consent_records_cannot_be_edited(mailing_list, consent_text):
    optin.subscriber_subscribe(email="a@example.org", mailing_list=mailing_list, consent_text=consent_text)
    record = ConsentRecord.objects.get()
    record.ip_address = "10.0.0.1"
    with pytest.raises(ValueError, match="append-only"):
        record.save()
