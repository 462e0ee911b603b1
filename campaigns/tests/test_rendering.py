import re
from html import escape
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.rendering import RecipientContext, compile_campaign, render_markdown
from campaigns.tests.factories import ArticleFactory, CampaignFactory

pytestmark = pytest.mark.django_db

ERIKA = RecipientContext(
    email="erika@example.org",
    first_name="Erika",
    last_name="Mustermann",
    language="de",
    unsubscribe_url="https://kanal.test/unsubscribe/tok-erika/",
    preferences_url="https://kanal.test/preferences/tok-erika/",
)
MAX = RecipientContext(
    email="max@example.org",
    first_name="<Max & Moritz>",
    unsubscribe_url="https://kanal.test/unsubscribe/tok-max/?a=1&b=2",
    preferences_url="https://kanal.test/preferences/tok-max/",
)


@pytest.fixture
def campaign():
    campaign = CampaignFactory(
        subject='News für {{ subscriber.first_name|default:"Leserin" }}',
        preheader="Diese Woche: {{ subscriber.first_name|upper }}",
    )
    ArticleFactory(
        campaign=campaign,
        position=1,
        headline="Zweiter Artikel",
        body="Mehr dazu im [Blog](https://blog.example.org/post?id=7&ref=mail).",
        link_url="https://example.org/second",
        cta_text="Zum Blog",
    )
    ArticleFactory(
        campaign=campaign,
        position=0,
        headline="Hallo {{ subscriber.first_name }}",
        body="**Fett** und *kursiv*.\n\n- eins\n- zwei",
        image_url="https://cdn.example.org/hero.png",
        image_alt="Ein Bild",
        link_url="https://example.org/first",
        cta_text="Jetzt lesen",
    )
    return campaign


class _Validator(HTMLParser):
    """Fails on unbalanced non-void tags, i.e. HTML a mail program would have to guess about."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"unexpected </{tag}>, open: {self.stack[-5:]}"
        self.stack.pop()


def assert_valid_html(document):
    assert document.lower().startswith("<!doctype html>")
    validator = _Validator()
    validator.feed(document)
    validator.close()
    assert validator.stack == []


def test_html_is_valid_with_inlined_styles_and_only_media_queries_left_in_style_tags(campaign):
    html = compile_campaign(campaign).render(ERIKA).html
    assert_valid_html(html)
    assert 'style="' in html
    body = html[html.index("<body") :]
    assert "<style" not in body
    for style in re.findall(r"<style[^>]*>(.*?)</style>", html, re.S):
        without_media = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", style)
        assert "{" not in without_media.replace(".mj-outlook-group-fix { width:100% !important; }", "")
    assert "fonts.googleapis.com" not in html  # no third-party font requests


def test_html_has_articles_in_order_with_links_preheader_and_footer(campaign, settings):
    html = compile_campaign(campaign).render(ERIKA).html
    assert html.index("Hallo Erika") < html.index("Zweiter Artikel")
    for url in ["https://example.org/first", "https://example.org/second", "https://cdn.example.org/hero.png"]:
        assert url in html
    assert "https://blog.example.org/post?id=7&amp;ref=mail" in html
    assert "Jetzt lesen" in html and "Zum Blog" in html
    assert "Diese Woche: ERIKA" in html
    assert 'alt="Ein Bild"' in html
    assert settings.KANAL_COMPANY_ADDRESS in html
    assert settings.KANAL_IMPRINT_URL in html and settings.KANAL_PRIVACY_URL in html
    assert 'href="https://kanal.test/unsubscribe/tok-erika/"' in html
    assert 'href="https://kanal.test/preferences/tok-erika/"' in html
    assert 'lang="de"' in html


def test_text_part_has_headlines_text_links_and_footer(campaign, settings):
    text = compile_campaign(campaign).render(ERIKA).text
    assert "Hallo Erika" in text and "Zweiter Artikel" in text
    assert "Fett und kursiv." in text
    assert "- eins\n- zwei" in text
    assert "Blog (https://blog.example.org/post?id=7&ref=mail)" in text
    assert "Jetzt lesen: https://example.org/first" in text
    assert "https://kanal.test/unsubscribe/tok-erika/" in text
    assert "https://kanal.test/preferences/tok-erika/" in text
    assert settings.KANAL_IMPRINT_URL in text
    assert "<strong>" not in text and "<p>" not in text


def test_subject_is_personalised_unescaped(campaign):
    compiled = compile_campaign(campaign)
    assert compiled.render(ERIKA).subject == "News für Erika"
    assert compiled.render(MAX).subject == "News für <Max & Moritz>"
    assert compiled.render(RecipientContext()).subject == "News für Leserin"


def test_merge_values_are_escaped_in_html_and_raw_in_text(campaign):
    rendered = compile_campaign(campaign).render(MAX)
    assert "Hallo &lt;Max &amp; Moritz&gt;" in rendered.html
    assert "<Max & Moritz>" not in rendered.html
    assert "Hallo <Max & Moritz>" in rendered.text
    assert 'href="https://kanal.test/unsubscribe/tok-max/?a=1&amp;b=2"' in rendered.html


def test_compile_once_render_many_differs_only_in_recipient_values(campaign):
    compiled = compile_campaign(campaign)
    erika, max_ = compiled.render(ERIKA), compiled.render(MAX)

    def neutralise(html, recipient, name):
        return (
            html.replace(escape(name), "NAME")
            .replace(escape(name.upper()), "NAME")
            .replace(recipient.unsubscribe_url.replace("&", "&amp;"), "UNSUB")
            .replace(recipient.preferences_url, "PREFS")
        )

    assert neutralise(erika.html, ERIKA, "Erika") == neutralise(max_.html, MAX, "<Max & Moritz>")
    assert compiled.render(ERIKA) == erika  # rendering is repeatable


def test_markdown_never_lets_scripts_or_javascript_links_through():
    campaign = CampaignFactory()
    ArticleFactory(
        campaign=campaign,
        headline="<script>alert('headline')</script>",
        body=(
            "Hi <script>alert('x')</script> there\n\n"
            "[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)\n\n"
            '<a href="javascript:alert(2)">raw link</a> <img src="x" onerror="alert(3)">\n\n'
            '<iframe src="https://evil.example"></iframe><style>body{display:none}</style>'
            '<a href="https://ok.example" onclick="alert(4)">ok</a>'
        ),
    )
    rendered = compile_campaign(campaign).render(ERIKA)
    # A headline is plain text: shown, escaped, never markup.
    assert "&lt;script&gt;alert(" in rendered.html
    for output in (rendered.html, rendered.text.replace("<script>alert('headline')</script>", "")):
        assert "<script" not in output
        assert "alert('x')" not in output
        assert "onerror" not in output and "onclick" not in output
        assert "<iframe" not in output
    assert not re.search(r"""(href|src)\s*=\s*["']?\s*(javascript|data):""", rendered.html, re.I)
    assert 'href="https://ok.example"' in rendered.html


def test_render_markdown_keeps_formatting_and_safe_links():
    html = render_markdown("# Title\n\n**b** [x](mailto:a@example.org) ![pic](https://img.example/p.png)")
    assert "<strong>b</strong>" in html
    assert 'href="mailto:a@example.org"' in html
    assert 'src="https://img.example/p.png"' in html
    assert "<h1>" not in html  # page-level headings are not part of an article body


def test_links_are_slots_keyed_by_article_and_position(campaign):
    compiled = compile_campaign(campaign)
    first, second = campaign.articles.order_by("position")
    assert [(link.key, link.kind) for link in compiled.links] == [
        ((str(first.public_id), 0), "image"),
        ((str(first.public_id), 1), "headline"),
        ((str(first.public_id), 2), "button"),
        ((str(second.public_id), 0), "headline"),
        ((str(second.public_id), 1), "body"),
        ((str(second.public_id), 2), "button"),
    ]
    tracked = [f"https://t.example/c/{index}?r=erika" for index in range(len(compiled.links))]
    rendered = compiled.render(
        RecipientContext(
            first_name="Erika",
            unsubscribe_url="https://kanal.test/u/",
            preferences_url="https://kanal.test/p/",
            link_urls=tracked,
            open_pixel_url="https://t.example/o/erika.gif",
        )
    )
    for link, url in zip(compiled.links, tracked, strict=True):
        assert f'href="{url}"' in rendered.html
        # The text part has no images or linked headlines, only links in the text and buttons.
        assert (url in rendered.text) == (link.kind in ("body", "button"))
    assert "https://example.org/first" not in rendered.html
    assert "https://blog.example.org/post" not in rendered.text
    # Footer links are never rewritten.
    assert 'href="https://kanal.test/u/"' in rendered.html
    assert '<img src="https://t.example/o/erika.gif" width="1" height="1"' in rendered.html
    assert "t.example/o/" not in compiled.render(ERIKA).html


def test_uploaded_image_is_an_absolute_url(settings):
    settings.SITE_URL = "https://news.example.com"
    campaign = CampaignFactory()
    ArticleFactory(
        campaign=campaign,
        image=SimpleUploadedFile("hero.png", b"\x89PNG\r\n\x1a\n" + b"0" * 32, content_type="image/png"),
        image_alt="Hero",
    )
    html = compile_campaign(campaign).render(ERIKA).html
    assert re.search(r'src="https://news\.example\.com/media/campaigns/images/\d{4}/\d{2}/hero[^"]*\.png"', html)


def test_archive_link_appears_when_given(campaign):
    rendered = compile_campaign(campaign, archive_url="https://kanal.test/archive/abc/").render(ERIKA)
    assert 'href="https://kanal.test/archive/abc/"' in rendered.html
    assert "https://kanal.test/archive/abc/" in rendered.text


def test_rendering_per_recipient_does_none_of_the_expensive_work(campaign, monkeypatch):
    """Templates, MJML, CSS inlining and Markdown run once per campaign (speed: bench/render_campaign.py)."""
    from campaigns.rendering import compiler, markdown

    for position in range(2, 6):
        ArticleFactory(campaign=campaign, position=position)
    compiled = compile_campaign(campaign)

    def forbidden(*args, **kwargs):
        raise AssertionError("expensive work in a per-recipient render")

    for name in ("render_to_string", "render_markdown", "html_to_text", "_inliner"):
        monkeypatch.setattr(compiler, name, forbidden)
    monkeypatch.setattr(compiler.mjml, "mjml2html", forbidden)
    monkeypatch.setattr(markdown.nh3, "clean", forbidden)
    assert "Erika" in compiled.render(ERIKA).html
