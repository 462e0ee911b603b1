"""Merge tags that read custom fields: {{ subscriber.fields.<key> }}, only for keys that exist."""

from email.utils import parseaddr

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import translation

from campaigns import previews
from campaigns.merge_tags import MergeTagError, parse, render_plain, validate_merge_tags
from campaigns.rendering import RecipientContext
from campaigns.services import sending
from campaigns.services.lifecycle import ChecklistWarnings, campaign_check_ready
from campaigns.services.test_send import campaign_send_test
from campaigns.tests.factories import ArticleFactory, CampaignFactory, with_reader
from subscribers.models import CustomField
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """The errors are checked in their English wording."""
    with translation.override("en"):
        yield


CITIES = [
    {"value": "koeln", "label_de": "Köln", "label_en": "Cologne"},
    {"value": "wien", "label_de": "Wien", "label_en": "Vienna"},
]


@pytest.fixture
def custom_fields():
    for key, kind, choices in (
        ("city", "choice", CITIES),
        ("visits", "number", []),
        ("contract_end", "date", []),
        ("customer", "boolean", []),
        ("nickname", "text", []),
    ):
        CustomField.objects.create(key=key, label_de=key, label_en=key, kind=kind, choices=choices)


def render(text, **recipient):
    return render_plain(parse(text), RecipientContext(**recipient))


def test_custom_field_values_read_in_the_recipients_language(custom_fields):
    values = {"city": "koeln", "visits": 3.5, "contract_end": "2027-03-31", "customer": True}
    text = "{{ subscriber.fields.city }} {{ subscriber.fields.visits }} {{ subscriber.fields.contract_end }} "
    text += "{{ subscriber.fields.customer }}"
    assert render(text, language="de", fields=values) == "Köln 3,5 31.03.2027 Ja"
    assert render(text, language="en", fields=values) == "Cologne 3.5 2027-03-31 Yes"


def test_missing_value_falls_back_to_the_default_filter(custom_fields):
    text = '{{ subscriber.fields.nickname|default:"liebe Leserin"|capfirst }}'
    assert render(text, fields={}) == "Liebe Leserin"
    assert render(text) == "Liebe Leserin"
    assert render(text, fields={"nickname": "kim"}) == "Kim"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ subscriber.fields.salary }}", "“subscriber.fields.salary” is not a custom field"),
        ("{{ subscriber.fields }}", "cannot be used"),
        ("{{ subscriber.fields.city.label_de }}", "is not a valid merge tag"),
        ("{{ subscriber.email.city }}", "cannot be used"),
        ("{{ subscriber.fields.__class__ }}", "is not a custom field"),
    ],
)
def test_unknown_keys_and_traversal_are_rejected_with_a_clear_error(custom_fields, source, message):
    with pytest.raises(ValidationError) as error:
        validate_merge_tags(source)
    assert message in error.value.messages[0]


def test_known_keys_validate(custom_fields):
    validate_merge_tags('Hallo aus {{ subscriber.fields.city|default:"Deutschland" }}')


def test_deleting_a_used_field_keeps_the_campaign_from_being_sent(custom_fields):
    campaign = CampaignFactory(
        subject="News für {{ subscriber.fields.nickname }}", mailing_lists=[MailingListFactory()]
    )
    ArticleFactory(campaign=campaign)
    with_reader(campaign)
    campaign_check_ready(campaign=campaign)
    CustomField.objects.filter(key="nickname").delete()
    with pytest.raises(ValidationError) as error:
        campaign_check_ready(campaign=campaign)
    assert "subscriber.fields.nickname" in error.value.messages[0]
    with pytest.raises(MergeTagError):
        parse(campaign.subject)


def test_sent_mails_carry_each_recipients_values(custom_fields, django_capture_on_commit_callbacks):
    news = MailingListFactory()
    campaign = CampaignFactory(
        subject="Neues aus {{ subscriber.fields.city|default:'der Welt' }}", mailing_lists=[news]
    )
    ArticleFactory(campaign=campaign, body="Ihr Vertrag endet am {{ subscriber.fields.contract_end }}.")
    for email, fields in (
        ("koeln@example.org", {"city": "koeln", "contract_end": "2027-03-31"}),
        ("empty@example.org", {}),
    ):
        SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory(email=email, fields=fields))
    with pytest.raises(ChecklistWarnings):  # one recipient has no contract_end
        sending.campaign_start(campaign=campaign)
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign, warnings_confirmed=True)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass
    by_address = {parseaddr(message.to[0])[1]: message for message in mail.outbox}
    assert by_address["koeln@example.org"].subject == "Neues aus Köln"
    assert "Ihr Vertrag endet am 31.03.2027." in by_address["koeln@example.org"].body
    assert by_address["empty@example.org"].subject == "Neues aus der Welt"
    assert "Ihr Vertrag endet am ." in by_address["empty@example.org"].body


def test_preview_and_test_send_use_the_chosen_subscribers_values(custom_fields):
    campaign = CampaignFactory(subject="Grüße nach {{ subscriber.fields.city }}")
    subscriber = SubscriberFactory(fields={"city": "wien"}, language="en")
    recipient, found = previews.preview_recipient(campaign, email=subscriber.email)
    assert found == subscriber
    assert previews.compile_for_display(campaign).render(recipient).subject == "Grüße nach Vienna"
    mail.outbox.clear()
    campaign_send_test(campaign=campaign, addresses=["staff@example.org"], recipient=recipient)
    assert mail.outbox[0].subject == "[Test] Grüße nach Vienna"
