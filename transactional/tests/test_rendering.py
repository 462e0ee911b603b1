import pytest
from django.core.exceptions import ValidationError

from campaigns.merge_tags import MergeTagError, parse
from subscribers.tests.factories import SubscriberFactory
from transactional.rendering import template_preview, template_render
from transactional.tests.factories import TransactionalTemplateFactory

pytestmark = pytest.mark.django_db


def test_request_data_and_subscriber_fields_fill_the_template():
    template = TransactionalTemplateFactory()
    subscriber = SubscriberFactory(first_name="Jana")
    rendered = template_render(
        template, email=subscriber.email, subscriber=subscriber, data={"order_number": "A-7", "total": 19.9}
    )
    assert rendered.subject == "Deine Bestellung A-7"
    assert "Hallo Jana!" in rendered.text
    assert "<strong>A-7</strong> über 19.9 €" in rendered.html


def test_an_address_without_subscriber_gets_the_defaults_and_no_unsubscribe_links():
    template = TransactionalTemplateFactory()
    rendered = template_render(template, email="buyer@example.net", data={"order_number": "A-8"})
    assert "Hallo du!" in rendered.text
    assert "über  €" in rendered.text  # a value not sent renders empty
    for text in (rendered.text, rendered.html):
        assert "Unsubscribe" not in text and "Abmelden" not in text and "abbestellen" not in text.lower()
    assert "Impressum" in rendered.text  # the brand's legal footer stays


def test_request_values_are_escaped_in_html():
    template = TransactionalTemplateFactory()
    rendered = template_render(template, email="x@example.net", data={"order_number": "<script>x</script>"})
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html


def test_data_tags_are_for_transactional_templates_only():
    with pytest.raises(MergeTagError):
        parse("{{ data.order_number }}")
    assert parse("{{ data.order_number|upper }}", request_data=True)[0].key == "order_number"
    template = TransactionalTemplateFactory.build(subject="{{ data.order-number }}")
    with pytest.raises(ValidationError):
        template.full_clean()


def test_preview_shows_each_request_value_by_its_name():
    rendered = template_preview(TransactionalTemplateFactory())
    assert rendered.subject == "Deine Bestellung [order_number]"
    assert "[total]" in rendered.text


def test_merge_tags_fill_link_addresses_percent_encoded_but_never_choose_the_scheme():
    template = TransactionalTemplateFactory(
        body="[Neues Passwort](https://shop.example/reset?token={{ data.token }}) oder [hier]({{ data.url }})",
        link_url="https://shop.example/orders/{{ data.order_number }}",
        cta_text="Zur Bestellung",
    )
    template.full_clean()
    rendered = template_render(
        template, email="x@example.net", data={"token": "a b&c", "order_number": "A/1", "url": "javascript:alert(1)"}
    )
    assert 'href="https://shop.example/reset?token=a%20b%26c"' in rendered.html
    assert 'href="https://shop.example/orders/A%2F1"' in rendered.html
    assert "Zur Bestellung: https://shop.example/orders/A%2F1" in rendered.text
    assert "javascript" not in rendered.html


def test_a_button_link_must_be_http_once_filled():
    template = TransactionalTemplateFactory.build(link_url="{{ data.url }}")
    with pytest.raises(ValidationError):
        template.full_clean()
