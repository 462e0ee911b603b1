import email
import email.policy
import re

import pytest

from campaigns.mime import MailHeaders, MessageSkeleton, qp_encode
from campaigns.rendering import RecipientContext, compile_campaign
from campaigns.tests.factories import ArticleFactory, CampaignFactory

pytestmark = pytest.mark.django_db

LONG_URL = "https://example.org/" + "x" * 150 + "?a=1&b=2"


@pytest.fixture
def campaign():
    campaign = CampaignFactory(
        subject='Grüße an {{ subscriber.first_name|default:"alle" }} – Ausgabe 7',
        from_name="Kanal Redaktion Ü",
        reply_to="antworten@example.com",
    )
    ArticleFactory(
        campaign=campaign,
        headline="Hallo {{ subscriber.first_name }}",
        body=(
            "Ein Absatz mit Umlauten (äöü ß), einem Gleichheitszeichen a=b und einer sehr langen Zeile "
            + "wort " * 60
            + f"\n\n.Punkt am Zeilenanfang, ein [langer Link]({LONG_URL}).\n\n- eins\n- zwei"
        ),
        link_url="https://example.org/artikel",
    )
    return campaign


def recipient(**fields) -> RecipientContext:
    defaults = {
        "email": "erika@example.org",
        "first_name": "Erika",
        "unsubscribe_url": "https://kanal.test/unsubscribe/tok/",
        "preferences_url": "https://kanal.test/preferences/tok/",
    }
    return RecipientContext(**(defaults | fields))


def build(campaign, context, **header_fields):
    compiled = compile_campaign(campaign)
    skeleton = MessageSkeleton(
        compiled,
        from_header=campaign.from_header,
        reply_to=campaign.reply_to,
        language=campaign.language,
        campaign_id=campaign.pk,
    )
    headers = MailHeaders(
        to=context.email,
        message_id="<kanal.1.2@example.com>",
        list_unsubscribe="<https://kanal.test/u/tok/one-click/>, <mailto:u@example.com?subject=unsubscribe%20tok>",
        delivery_id=2,
        **header_fields,
    )
    return compiled, skeleton.build(context, headers)


def test_the_prebuilt_message_decodes_to_exactly_what_the_renderer_made(campaign):
    for context in (recipient(), recipient(first_name="Zoë <&> Ünal", email="zoe@example.org")):
        compiled, data = build(campaign, context)
        rendered = compiled.render(context)
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert parsed["Subject"] == rendered.subject
        assert parsed["To"] == context.email
        assert parsed.get_content_type() == "multipart/alternative"
        text_part, html_part = parsed.get_payload()
        assert text_part.get_content_type() == "text/plain"
        assert text_part.get_content().replace("\r\n", "\n") == rendered.text
        assert html_part.get_content().replace("\r\n", "\n") == rendered.html
        assert "Zoë &lt;&amp;&gt; Ünal" in html_part.get_content() or context.first_name == "Erika"


def test_headers_are_well_formed_and_lines_short(campaign):
    _compiled, data = build(campaign, recipient())
    assert data.isascii()
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 78
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["From"].addresses[0].display_name == "Kanal Redaktion Ü"
    assert parsed["Reply-To"] == "antworten@example.com"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(parsed["List-Unsubscribe"]).startswith("<https://kanal.test/u/tok/one-click/>")
    assert parsed["Message-ID"] == "<kanal.1.2@example.com>"
    assert parsed["X-Kanal-Campaign"] == str(campaign.pk)
    assert parsed["X-Kanal-Delivery"] == "2"
    assert parsed["Date"]
    assert parsed["MIME-Version"] == "1.0"


def test_line_breaks_in_merge_values_cannot_inject_headers(campaign):
    campaign.subject = "Hallo {{ subscriber.first_name }}"
    _compiled, data = build(campaign, recipient(first_name="Eve\r\nBcc: victim@example.org"))
    header_block = data.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"^Bcc:", header_block, flags=re.MULTILINE)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Bcc"] is None


def test_quoted_printable_pieces_join_into_valid_lines():
    encoded = qp_encode("a=b " + "ä" * 100 + "\nzweite Zeile ")
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    assert b"=3D" in encoded and encoded.endswith(b"=20")


def test_no_line_starts_with_a_dot_so_smtp_needs_no_dot_stuffing():
    import binascii

    for text in (".start", "x" * 75 + ".y", "a\n.b\n..c", ("." + "ä" * 40 + "\n") * 3, "=" * 74 + "." + "x" * 80):
        encoded = qp_encode(text)
        lines = encoded.split(b"\r\n")
        assert not any(line.startswith(b".") for line in lines), text
        assert all(len(line) <= 76 for line in lines), text
        assert binascii.a2b_qp(encoded).decode().replace("\r\n", "\n") == text


def test_values_that_need_no_encoding_are_taken_as_they_are_and_others_are_encoded():
    from campaigns.mime import _qp_value

    for plain in ("Erika", "https://news.example.com/t/c/AAAAAAABAAAAAAACabcdefghijklmn", "&lt;Max&gt;"):
        assert _qp_value(plain) == plain.encode()
    for needs_encoding in ("Zoë", "a=b", ".dot", "trailing ", "x" * 77, "line\nbreak"):
        assert _qp_value(needs_encoding) == qp_encode(needs_encoding.replace("\n", "\r\n"))
