"""Custom MJML layouts: only Kanal's markers, valid MJML, and errors that name their line."""

import pytest

from brands.sandbox import layout_fill, validate_layout_source
from brands.tests.factories import VALID_LAYOUT

pytestmark = pytest.mark.usefixtures("in_english")


def test_a_layout_with_the_markers_and_valid_mjml_passes():
    assert validate_layout_source(VALID_LAYOUT) == []


def test_an_unclosed_element_is_reported_with_its_line():
    source = VALID_LAYOUT.replace("</mj-text>", "", 1)
    assert validate_layout_source(source) == ["Line 9: </mj-column> found, but <mj-text> from line 8 is still open."]


def test_a_wrongly_closed_element_is_reported_with_both_lines():
    source = VALID_LAYOUT.replace("</mj-text>", "</mj-txt>", 1)
    (error,) = validate_layout_source(source)
    assert error == "Line 8: </mj-txt> found, but <mj-text> from line 8 is still open."


def test_an_unknown_element_and_unquoted_attributes_are_reported():
    source = VALID_LAYOUT.replace("<mj-column>", "<mj-colum>", 1).replace('font-size="20px"', "font-size=20px")
    errors = validate_layout_source(source)
    assert "Line 7: <mj-colum> is not an MJML element." in errors
    assert "Line 8: put the attribute values of <mj-text> in quotes." in errors


def test_what_mjml_itself_refuses_is_reported():
    errors = validate_layout_source(VALID_LAYOUT.replace("</mjml>", "</mjml>\n<mjml></mjml>"))
    assert len(errors) == 1 and "MJML could not compile" in errors[0], errors
    errors = validate_layout_source("\n<mj-body>{{ articles }}{{ footer }}</mj-body>")
    assert len(errors) == 1 and errors[0].startswith("Line 2: MJML could not compile this:"), errors


@pytest.mark.parametrize(
    ("line", "syntax"),
    [
        ("{% load static %}", "{% load static %}"),
        ('{% include "admin/base.html" %}', '{% include "admin/base.html" %}'),
        ("{{ articles|safe }}", "{{ articles|safe }}"),
        ("{# a comment #}", "{# a comment #}"),
    ],
)
def test_template_syntax_other_than_the_markers_is_refused_with_its_line(line, syntax):
    source = VALID_LAYOUT.replace("    {{ articles }}\n", f"    {{{{ articles }}}}\n    {line}\n", 1)
    errors = validate_layout_source(source)
    assert any(error.startswith("Line 12:") and syntax.split()[0] in error for error in errors), errors


def test_a_variable_that_is_no_marker_is_refused():
    source = VALID_LAYOUT.replace("{{ subject }}", "{{ settings.SECRET_KEY }}")
    assert "Line 8: “{{ settings.SECRET_KEY }}” is not a marker of Kanal's layouts." in validate_layout_source(source)


def test_a_layout_without_the_footer_is_refused_with_a_clear_message():
    errors = validate_layout_source(VALID_LAYOUT.replace("{{ footer }}", ""))
    assert errors == [
        "The layout has no {{ footer }}: every mail needs the footer with the unsubscribe link, the legal "
        "address and the open pixel."
    ]


def test_a_layout_without_the_articles_is_refused():
    assert validate_layout_source(VALID_LAYOUT.replace("{{ articles }}", "")) == [
        "The layout has no {{ articles }}: the campaign's articles would not appear."
    ]


def test_a_block_marker_inside_a_column_is_refused():
    source = VALID_LAYOUT.replace("{{ brand.name }}: {{ subject }}", "{{ footer }}").replace("    {{ footer }}\n", "")
    assert "Line 8: {{ footer }} must stand directly inside <mj-body> / <mj-wrapper>." in validate_layout_source(source)


def test_a_second_footer_is_refused():
    source = VALID_LAYOUT.replace("    {{ footer }}\n", "    {{ footer }}\n    {{ footer }}\n")
    assert "Line 13: {{ footer }} appears a second time (first on line 12)." in validate_layout_source(source)


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        '<a href="javascript:alert(1)">x</a>',
        '<img src="x" onerror="alert(1)">',
        '<mj-include path="/etc/passwd" />',
    ],
)
def test_scripts_and_includes_are_refused(html):
    source = VALID_LAYOUT.replace("{{ brand.name }}:", html, 1)
    errors = validate_layout_source(source)
    assert any(error.startswith("Line 8:") for error in errors), errors


def test_fill_escapes_values_and_puts_missing_blocks_before_the_footer():
    filled = layout_fill(
        VALID_LAYOUT,
        blocks={"articles": "<ARTICLES/>", "footer": "<FOOTER/>", "survey": "<SURVEY/>", "head": ""},
        values={"subject": 'Tom & "Jerry" <3', "brand.name": "B"},
    )
    assert "B: Tom &amp; &quot;Jerry&quot; &lt;3" in filled
    assert filled.index("<ARTICLES/>") < filled.index("<SURVEY/>") < filled.index("<FOOTER/>")
    assert "{{" not in filled
