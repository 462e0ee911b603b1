"""Every operator of custom_field_q, on whichever database the suite runs (SQLite and PostgreSQL)."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from subscribers.models import CustomField, Subscriber
from subscribers.selectors import CUSTOM_FIELD_OPERATORS, custom_field_q
from subscribers.tests.factories import SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]

TODAY = date(2026, 6, 15)
CITIES = [
    {"value": "berlin", "label_de": "Berlin", "label_en": "Berlin"},
    {"value": "koeln", "label_de": "Köln", "label_en": "Cologne"},
    {"value": "wien", "label_de": "Wien", "label_en": "Vienna"},
]
TOPICS = [
    {"value": "sport", "label_de": "Sport", "label_en": "Sports"},
    {"value": "kultur", "label_de": "Kultur", "label_en": "Culture"},
    {"value": "politik", "label_de": "Politik", "label_en": "Politics"},
    {"value": "sport-extra", "label_de": "Sport extra", "label_en": "Sports extra"},
]


def field(key, kind, choices=()):
    return CustomField.objects.create(key=key, label_de=key, label_en=key, kind=kind, choices=list(choices))


@pytest.fixture
def people():
    """Four readers; ``nobody`` holds no value at all."""
    rows = {
        "anna": {
            "note": "Liest gern am Morgen",
            "age": 34,
            "score": 2.5,
            "birthday": "1992-06-10",
            "contract_end": "2026-07-01",
            "customer": True,
            "city": "berlin",
            "topics": ["kultur", "sport"],
        },
        "ben": {
            "note": "morgens nie",
            "age": 61,
            "score": 10,
            "birthday": "1965-01-31",
            "contract_end": "2027-01-01",
            "customer": False,
            "city": "koeln",
            "topics": ["sport-extra"],
        },
        "cleo": {"age": 18, "birthday": "2008-06-15", "city": "wien", "topics": ["politik"]},
        "nobody": {},
    }
    return {name: SubscriberFactory(email=f"{name}@example.org", fields=values) for name, values in rows.items()}


@pytest.fixture
def fields():
    return {
        "note": field("note", "text"),
        "age": field("age", "number"),
        "score": field("score", "number"),
        "birthday": field("birthday", "date"),
        "contract_end": field("contract_end", "date"),
        "customer": field("customer", "boolean"),
        "city": field("city", "choice", CITIES),
        "topics": field("topics", "multiple_choice", TOPICS),
    }


def who(custom_field, operator, value=None):
    q = custom_field_q(field=custom_field, operator=operator, value=value, today=TODAY)
    return set(Subscriber.objects.filter(q).values_list("email", flat=True))


def names(*people):
    return {f"{name}@example.org" for name in people}


CASES = [
    ("note", "equals", "LIEST GERN AM MORGEN", ["anna"]),
    ("note", "not_equals", "liest gern am morgen", ["ben", "cleo", "nobody"]),
    ("note", "contains", "morgen", ["anna", "ben"]),
    ("note", "starts_with", "Morgens", ["ben"]),
    ("note", "is_empty", None, ["cleo", "nobody"]),
    ("note", "is_not_empty", None, ["anna", "ben"]),
    ("age", "equals", "34", ["anna"]),
    ("age", "lt", 34, ["cleo"]),
    ("age", "lte", 34, ["anna", "cleo"]),
    ("age", "gt", "34", ["ben"]),
    ("age", "gte", 34, ["anna", "ben"]),
    ("age", "between", [18, 34], ["anna", "cleo"]),
    ("age", "between", ["20", ""], ["anna", "ben"]),
    ("age", "is_empty", None, ["nobody"]),
    ("score", "between", ["2,5", 9.5], ["anna"]),
    ("score", "gt", 3, ["ben"]),
    ("birthday", "on", "15.06.2008", ["cleo"]),
    ("birthday", "before", "1992-06-10", ["ben"]),
    ("birthday", "after", "1970-01-01", ["anna", "cleo"]),
    ("birthday", "within_last_days", 5, []),
    ("birthday", "anniversary_within_next_days", 0, ["cleo"]),
    ("birthday", "anniversary_within_next_days", 240, ["ben", "cleo"]),
    ("contract_end", "within_next_days", 30, ["anna"]),
    ("contract_end", "within_last_days", 30, []),
    ("birthday", "is_empty", None, ["nobody"]),
    ("customer", "is_true", None, ["anna"]),
    ("customer", "is_false", None, ["ben"]),
    ("customer", "is_empty", None, ["cleo", "nobody"]),
    ("city", "is", "berlin", ["anna"]),
    ("city", "is", "Cologne", ["ben"]),
    ("city", "is_not", "berlin", ["ben", "cleo", "nobody"]),
    ("city", "is_any_of", ["berlin", "wien"], ["anna", "cleo"]),
    ("city", "is_empty", None, ["nobody"]),
    ("topics", "has", "sport", ["anna"]),
    ("topics", "has", "politik", ["cleo"]),
    ("topics", "has_not", "sport", ["ben", "cleo", "nobody"]),
    ("topics", "has_any_of", ["sport-extra", "politik"], ["ben", "cleo"]),
    ("topics", "is_empty", None, ["nobody"]),
]


@pytest.mark.parametrize(("key", "operator", "value", "expected"), CASES)
def test_operator_selects_exactly_the_matching_subscribers(people, fields, key, operator, value, expected):
    assert who(fields[key], operator, value) == names(*expected)


def test_every_operator_of_every_kind_is_covered():
    kinds = {
        "note": "text",
        "age": "number",
        "score": "number",
        "birthday": "date",
        "contract_end": "date",
        "customer": "boolean",
        "city": "choice",
        "topics": "multiple_choice",
    }
    covered = {(kinds[key], operator) for key, operator, _value, _expected in CASES}
    assert covered == {(kind, operator) for kind, operators in CUSTOM_FIELD_OPERATORS.items() for operator in operators}


def test_within_days_counts_today_and_the_day_n_days_away(people, fields):
    assert who(fields["contract_end"], "within_last_days", 0) == set()
    eighteen_years = (TODAY - date(2008, 6, 15)).days
    assert who(fields["birthday"], "within_last_days", eighteen_years) == names("cleo")
    assert who(fields["birthday"], "within_last_days", eighteen_years - 1) == set()
    assert who(fields["contract_end"], "within_next_days", 16) == names("anna")
    assert who(fields["contract_end"], "within_next_days", 15) == set()


def test_anniversary_window_over_new_year(people, fields):
    birthday = fields["birthday"]
    q = custom_field_q(field=birthday, operator="anniversary_within_next_days", value=45, today=date(2026, 12, 20))
    assert set(Subscriber.objects.filter(q).values_list("email", flat=True)) == names("ben")


def test_conditions_combine_and_negate(people, fields):
    young_or_berlin = custom_field_q(field=fields["age"], operator="lt", value=30) | custom_field_q(
        field=fields["city"], operator="is", value="berlin"
    )
    assert set(Subscriber.objects.filter(young_or_berlin).values_list("email", flat=True)) == names("anna", "cleo")
    assert set(Subscriber.objects.exclude(young_or_berlin).values_list("email", flat=True)) == names("ben", "nobody")


@pytest.mark.parametrize(
    ("key", "operator", "value", "message"),
    [
        ("age", "contains", "3", "does not fit"),
        ("note", "lt", "3", "does not fit"),
        ("age", "gt", "viel", "Enter a number"),
        ("birthday", "before", "31.02.2020", "Enter a date"),
        ("birthday", "within_last_days", "drei", "whole number of days"),
        ("city", "is", "paris", "not one of the options"),
        ("topics", "has_any_of", [], "at least one option"),
        ("age", "between", [None, ""], "lower and an upper bound"),
        ("note", "equals", "", "value to compare with"),
    ],
)
def test_a_wrong_operator_or_value_is_a_clear_error(fields, key, operator, value, message):
    with pytest.raises(ValidationError) as error:
        custom_field_q(field=fields[key], operator=operator, value=value, today=TODAY)
    assert message in " ".join(error.value.messages)


def test_conditions_work_from_a_related_model(people, fields):
    from subscribers.models import Subscription
    from subscribers.tests.factories import SubscriptionFactory

    for subscriber in people.values():
        SubscriptionFactory(subscriber=subscriber)
    q = custom_field_q(field=fields["topics"], operator="has_not", value="sport", path="subscriber__fields")
    q &= custom_field_q(field=fields["customer"], operator="is_empty", path="subscriber__fields")
    emails = set(Subscription.objects.filter(q).values_list("subscriber__email", flat=True))
    assert emails == names("cleo", "nobody")


def test_every_operator_has_a_label_for_staff():
    from subscribers.selectors import CUSTOM_FIELD_OPERATOR_LABELS

    operators = {operator for operators in CUSTOM_FIELD_OPERATORS.values() for operator in operators}
    assert set(CUSTOM_FIELD_OPERATOR_LABELS) == operators
