import time

import pytest
from django.core.exceptions import ValidationError

from campaigns import merge_tags
from campaigns.merge_tags import MergeTagError, parse, render_plain, validate_merge_tags
from campaigns.rendering import RecipientContext

ERIKA = RecipientContext(email="erika@example.org", first_name="erika", last_name="mustermann", language="de")
NOBODY = RecipientContext()


def render(text, recipient=ERIKA):
    return render_plain(parse(text), recipient)


def test_field_and_default_filter():
    assert render("Hallo {{ subscriber.first_name }}!") == "Hallo erika!"
    assert render('Hallo {{ subscriber.first_name|default:"Leserin" }}!', NOBODY) == "Hallo Leserin!"
    assert render("Hallo {{subscriber.first_name|default:'Leserin'}}!", NOBODY) == "Hallo Leserin!"


def test_whitelisted_filters_chain():
    assert render("{{ subscriber.first_name|upper }}") == "ERIKA"
    assert render("{{ subscriber.first_name|capfirst }} {{ subscriber.last_name|title }}") == "Erika Mustermann"
    assert render('{{ subscriber.first_name | default:"x" | upper | lower }}') == "erika"
    assert render("{{ subscriber.email }} {{ subscriber.language }}") == "erika@example.org de"


def test_text_without_tags_is_unchanged():
    assert render("Preis: 5 {Euro} und {geschweifte} Klammern") == "Preis: 5 {Euro} und {geschweifte} Klammern"


@pytest.mark.parametrize(
    "hostile",
    [
        "{{ settings.SECRET_KEY }}",
        "{{ SECRET_KEY }}",
        "{% include 'admin/base.html' %}",
        "{% for x in y %}{{ x }}{% endfor %}",
        "{% load static %}",
        "{% debug %}",
        "{# comment #}",
        "{{ subscriber.__class__ }}",
        "{{ subscriber.__class__.__init__.__globals__ }}",
        "{{ subscriber.id }}",
        "{{ subscriber.pk }}",
        "{{ subscriber.status }}",
        "{{ subscriber.public_id }}",
        "{{ subscriber.tracking_consent }}",
        "{{ subscriber.first_name.upper }}",
        "{{ subscriber.email|safe }}",
        "{{ subscriber.email|escape }}",
        "{{ subscriber.email|add:'x' }}",
        "{{ subscriber.first_name|default }}",
        '{{ subscriber.first_name|upper:"x" }}',
        "{{ subscriber.first_name|default:subscriber.email }}",
        "{{ subscriber.first_name|upper|upper|upper|upper|upper|upper }}",
        "{{ subscriber }}",
        "{{ {{ subscriber.first_name }} }}",
        "{{{{ subscriber.first_name }}}}",
        "{{ subscriber.first_name",
        "subscriber.first_name }}",
        "{{ request.user }}",
    ],
)
def test_hostile_templates_are_rejected(hostile):
    with pytest.raises(MergeTagError):
        parse(hostile)
    with pytest.raises(ValidationError):
        validate_merge_tags(hostile)


def test_block_tag_error_explains_what_is_wrong():
    with pytest.raises(ValidationError) as error:
        validate_merge_tags("Hallo {% include 'x' %}")
    assert "{% … %}" in error.value.messages[0]


def test_unknown_field_error_lists_allowed_fields():
    with pytest.raises(MergeTagError) as error:
        parse("{{ subscriber.password }}")
    assert "first_name" in str(error.value)


@pytest.mark.parametrize(
    "payload",
    [
        "{" * 100_000,
        "{{" * 50_000,
        "{{ " + "a" * 100_000,
        "{{ subscriber.first_name " * 10_000,
        "{{ subscriber.first_name|" + "upper|" * 20_000 + "upper }}",
        '{{ subscriber.first_name|default:"' + "x" * 100_000 + '" }}',
        "}" * 100_000,
    ],
)
def test_huge_brace_inputs_are_rejected_without_backtracking(payload):
    # Not a benchmark: catastrophic backtracking on 100 KB would take minutes, so 2 s of CPU is a
    # bound no sane run comes near, however loaded the machine is.
    started = time.process_time()
    with pytest.raises(MergeTagError):
        parse(payload)
    assert time.process_time() - started < 2


def test_many_valid_tags_parse_without_backtracking():
    text = "Hallo {{ subscriber.first_name }}, " * 5_000
    started = time.process_time()
    parts = parse(text)
    assert time.process_time() - started < 2
    assert sum(isinstance(part, merge_tags.MergeTag) for part in parts) == 5_000


def test_single_braces_are_plain_text():
    assert render("{ subscriber.first_name }") == "{ subscriber.first_name }"


def test_tag_length_limit_matches_the_regex():
    assert f"{{0,{merge_tags.MAX_TAG_LENGTH}}}" in merge_tags.TAG_RE.pattern


def test_a_registered_namespace_takes_any_key_and_reads_the_recipients_values():
    """Automations registers ``payload``: ``{{ subscriber.payload.<key> }}`` with keys the author chooses."""
    recipient = RecipientContext(email="erika@example.org", values={"payload.order": "4711"})
    assert render("Nr. {{ subscriber.payload.order }}{{ subscriber.payload.other|default:'!' }}", recipient) == (
        "Nr. 4711!"
    )
    with pytest.raises(MergeTagError):
        parse("{{ subscriber.payload }}")
    with pytest.raises(MergeTagError):
        parse("{{ subscriber.parcel.order }}")
