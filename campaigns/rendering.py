"""Turn a campaign into mail bodies: expensive work once per campaign, cheap work per recipient.

``compile_campaign`` renders the MJML layout, inlines the CSS, renders and sanitises the
Markdown and parses the merge tags, then cuts the finished HTML and text into static segments
and *slots*. ``CompiledCampaign.render`` fills the slots for one recipient — merge tags, the
unsubscribe and preference-centre URLs, the article links and an optional open pixel — with
one list copy and one ``str.join`` per part.

Link tracking hook: every article link (image, headline, links in the text, button) is a slot
listed in ``CompiledCampaign.links`` with a stable key ``(article public id, position)``. By
default a slot renders the original URL; pass ``RecipientContext.link_urls`` (one URL per entry
of ``links``, same order) to substitute signed click-tracking URLs per recipient.

One-click answers: when a survey is attached to the campaign, its first question is a block of
answer buttons after the articles (``CompiledCampaign.survey``, built by ``surveys.mail``), and
with ``Campaign.article_feedback_enabled`` every article ends in "was this useful? yes / no"
(``CompiledCampaign.feedback_article_ids``). Their URLs are slots as well:
``RecipientContext.survey_urls`` and ``feedback_urls`` carry the signed per-delivery URLs
(``surveys.mail.AnswerLinks``); without them (previews, test sends, the archive page) the slots
render preview links that open the survey but never store an answer.
"""

import html
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import css_inline
import mjml
import nh3
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from markdown_it import MarkdownIt

from campaigns import merge_tags
from campaigns.merge_tags import MergeTag

LINK_SCHEMES = {"http", "https", "mailto"}
BODY_TAGS = {
    "a", "b", "blockquote", "br", "code", "em", "h3", "h4", "hr", "i", "img", "li", "ol", "p", "pre", "strong", "ul",
}  # fmt: skip
BODY_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}}


@dataclass(frozen=True, slots=True)
class RecipientContext:
    """Everything a message may differ in per recipient. Only public subscriber fields are here."""

    email: str = ""
    first_name: str = ""
    last_name: str = ""
    language: str = ""
    unsubscribe_url: str = ""
    preferences_url: str = ""
    # Per-recipient replacements for CompiledCampaign.links (e.g. signed click URLs); None keeps the originals.
    link_urls: Sequence[str] | None = None
    # An open-tracking pixel URL; empty renders no pixel.
    open_pixel_url: str = ""
    # A link no person sees or follows (tracking's scanner trap); empty renders none.
    honeypot_url: str = ""
    # Signed one-click URLs: one per survey button, and a yes and a no per article with feedback
    # (surveys.mail.AnswerLinks); None renders the compiled preview links, which store nothing.
    survey_urls: Sequence[str] | None = None
    feedback_urls: Sequence[str] | None = None

    @classmethod
    def for_subscriber(cls, subscriber, **urls) -> "RecipientContext":
        return cls(
            email=subscriber.email,
            first_name=subscriber.first_name,
            last_name=subscriber.last_name,
            language=subscriber.language,
            **urls,
        )


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    subject: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class CompiledLink:
    """One trackable link of the campaign, keyed by its article and its position in the article."""

    article_public_id: str
    position: int
    kind: str  # "image", "headline", "body" or "button"
    url: str

    @property
    def key(self) -> tuple[str, int]:
        return (self.article_public_id, self.position)


# Slot kinds. A slot is identified by (kind, argument); the argument is a MergeTag or a link index
# (for SURVEY and FEEDBACK the index into the recipient's survey_urls and feedback_urls).
MERGE, LINK, UNSUBSCRIBE, PREFERENCES, PIXEL, HONEYPOT = "merge", "link", "unsubscribe", "preferences", "pixel", "trap"
SURVEY, FEEDBACK = "survey", "feedback"


@dataclass(slots=True)
class _Template:
    """A text cut into static segments and holes; ``holes`` are (segment index, slot index)."""

    segments: list[str]
    holes: list[tuple[int, int]]

    def fill(self, values: list[str]) -> str:
        out = self.segments.copy()
        for index, slot in self.holes:
            out[index] = values[slot]
        return "".join(out)


@dataclass
class CompiledCampaign:
    """A campaign ready to render for many recipients. Build it with ``compile_campaign``."""

    campaign_id: int | None
    subject_parts: list
    html_template: _Template
    text_template: _Template
    slots: list[tuple[str, object]]
    links: list[CompiledLink] = field(default_factory=list)
    # The survey block (surveys.mail.MailSurveyBlock) and the articles with feedback links, for
    # surveys.mail.AnswerLinks; the preview URLs fill those slots when a recipient has none.
    survey: object = None
    feedback_article_ids: list[int] = field(default_factory=list)
    survey_preview_urls: list[str] = field(default_factory=list)
    feedback_preview_urls: list[str] = field(default_factory=list)

    @property
    def has_answer_links(self) -> bool:
        return self.survey is not None or bool(self.feedback_article_ids)

    def render(self, recipient: RecipientContext) -> RenderedMessage:
        html_values, text_values = self.slot_values(recipient)
        return RenderedMessage(
            subject=merge_tags.render_plain(self.subject_parts, recipient),
            html=self.html_template.fill(html_values),
            text=self.text_template.fill(text_values),
        )

    def slot_values(self, recipient: RecipientContext) -> tuple[list[str], list[str]]:
        escape = html.escape
        link_urls = recipient.link_urls
        html_values = []
        text_values = []
        for kind, argument in self.slots:
            if kind == MERGE:
                value = argument.value(recipient)
                html_values.append(escape(value))
                text_values.append(value)
            elif kind == LINK:
                url = link_urls[argument] if link_urls is not None else self.links[argument].url
                html_values.append(escape(url))
                text_values.append(url)
            elif kind == UNSUBSCRIBE:
                html_values.append(escape(recipient.unsubscribe_url))
                text_values.append(recipient.unsubscribe_url)
            elif kind == PREFERENCES:
                html_values.append(escape(recipient.preferences_url))
                text_values.append(recipient.preferences_url)
            elif kind == SURVEY:
                urls = recipient.survey_urls
                url = (urls if urls is not None else self.survey_preview_urls)[argument]
                html_values.append(escape(url))
                text_values.append(url)
            elif kind == FEEDBACK:
                urls = recipient.feedback_urls
                url = (urls if urls is not None else self.feedback_preview_urls)[argument]
                html_values.append(escape(url))
                text_values.append(url)
            elif kind == HONEYPOT:
                trap = recipient.honeypot_url
                html_values.append(
                    f'<a href="{escape(trap)}" tabindex="-1" aria-hidden="true" '
                    'style="display:none;font-size:0;line-height:0;max-height:0;overflow:hidden;">&#8203;</a>'
                    if trap
                    else ""
                )
                text_values.append("")
            else:  # PIXEL
                pixel = recipient.open_pixel_url
                html_values.append(
                    f'<img src="{escape(pixel)}" width="1" height="1" alt="" style="display:block;border:0;">'
                    if pixel
                    else ""
                )
                text_values.append("")
        return html_values, text_values


class _Slots:
    """Hands out unguessable placeholders that survive Markdown, nh3, MJML and css-inline unchanged."""

    def __init__(self):
        self.nonce = secrets.token_hex(6).upper()
        self.pattern = re.compile(rf"KANAL{self.nonce}S(\d+)E")
        self.slots: list[tuple[str, object]] = []
        self._index: dict[tuple[str, object], int] = {}

    def placeholder(self, kind: str, argument: object = None) -> str:
        key = (kind, argument)
        if key not in self._index:
            self._index[key] = len(self.slots)
            self.slots.append(key)
        return f"KANAL{self.nonce}S{self._index[key]}E"

    def with_merge_tags(self, text: str) -> str:
        """The text with each merge tag replaced by its placeholder (raises MergeTagError)."""
        return "".join(
            part if isinstance(part, str) else self.placeholder(MERGE, part) for part in merge_tags.parse(text)
        )

    def template(self, text: str) -> _Template:
        segments: list[str] = []
        holes: list[tuple[int, int]] = []
        position = 0
        for match in self.pattern.finditer(text):
            segments.append(text[position : match.start()])
            holes.append((len(segments), int(match.group(1))))
            segments.append("")
            position = match.end()
        segments.append(text[position:])
        return _Template(segments=segments, holes=holes)

    def restore_literal(self, text: str) -> str:
        """Undo merge placeholders where tags are not expanded (inside link URLs)."""

        def literal(match):
            kind, argument = self.slots[int(match.group(1))]
            return _tag_source(argument) if kind == MERGE else match.group(0)

        return self.pattern.sub(literal, text)


def _tag_source(tag: MergeTag) -> str:
    filters = "".join(f'|{name}:"{arg}"' if arg is not None else f"|{name}" for name, arg in tag.filters)
    return f"{{{{ subscriber.{tag.field}{filters} }}}}"


# Raw HTML is parsed so that nh3 can remove it (scripts with their content, other tags keeping their text).
_markdown = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})


class _ArticleLinks:
    """Registers the links of one article in document order."""

    def __init__(self, *, slots: _Slots, links: list[CompiledLink], article_public_id: str):
        self.slots = slots
        self.links = links
        self.article_public_id = article_public_id
        self.position = 0

    def add(self, kind: str, url: str) -> str:
        self.links.append(
            CompiledLink(article_public_id=self.article_public_id, position=self.position, kind=kind, url=url)
        )
        self.position += 1
        return self.slots.placeholder(LINK, len(self.links) - 1)


def render_markdown(body: str, *, on_link=None) -> str:
    """Markdown to sanitised HTML: only the tags in BODY_TAGS and only http(s) and mailto links
    survive; scripts and styles are dropped with their content. ``on_link(url)`` may return a
    replacement for each kept link."""

    def attribute_filter(tag, attribute, value):
        if tag == "a" and attribute == "href":
            if urlsplit(value).scheme.lower() not in LINK_SCHEMES:
                return None
            return on_link(value) if on_link else value
        if tag == "img" and attribute == "src" and urlsplit(value).scheme.lower() not in {"http", "https"}:
            return None
        return value

    return nh3.clean(
        _markdown.render(body),
        tags=BODY_TAGS,
        attributes=BODY_ATTRIBUTES,
        url_schemes=LINK_SCHEMES,
        attribute_filter=attribute_filter,
        link_rel="noopener",
    )


def compile_campaign(campaign, *, articles=None, archive_url: str = "") -> CompiledCampaign:
    """Do everything expensive once. Raises merge_tags.MergeTagError for invalid merge tags."""
    if articles is None:
        articles = list(campaign.articles.all())
    slots = _Slots()
    links: list[CompiledLink] = []
    feedback_enabled = bool(getattr(campaign, "article_feedback_enabled", False))
    feedback_article_ids: list[int] = []

    article_contexts = []
    text_blocks = []
    for article in articles:
        registry = _ArticleLinks(slots=slots, links=links, article_public_id=str(article.public_id))
        headline = slots.with_merge_tags(article.headline)
        image_src = _image_src(article)
        context = {
            "headline": headline,
            "image_src": image_src,
            "image_alt": article.image_alt,
            "image_link": registry.add("image", article.link_url) if image_src and article.link_url else "",
            "headline_link": registry.add("headline", article.link_url) if article.link_url else "",
        }

        def on_link(url, registry=registry):
            return registry.add("body", slots.restore_literal(url))

        body_html = render_markdown(slots.with_merge_tags(article.body), on_link=on_link) if article.body else ""
        context["body_html"] = body_html
        with translation.override(campaign.language):
            cta_text = article.cta_text or (_("Read more") if article.link_url else "")
        context["cta_text"] = cta_text
        context["cta_link"] = registry.add("button", article.link_url) if article.link_url else ""
        if feedback_enabled and article.pk is not None:
            index = len(feedback_article_ids)
            feedback_article_ids.append(article.pk)
            context["feedback_yes"] = slots.placeholder(FEEDBACK, 2 * index)
            context["feedback_no"] = slots.placeholder(FEEDBACK, 2 * index + 1)
        article_contexts.append(context)

        block = [headline]
        if body_html:
            block.append(html_to_text(body_html))
        if context["cta_link"]:
            block.append(f"{cta_text}: {context['cta_link']}")
        if "feedback_yes" in context:
            with translation.override(campaign.language):
                block.append(
                    "\n".join(
                        [
                            _("Was this article useful?"),
                            _("Yes: %(url)s") % {"url": context["feedback_yes"]},
                            _("No: %(url)s") % {"url": context["feedback_no"]},
                        ]
                    )
                )
        text_blocks.append("\n\n".join(block))

    survey_mail = _survey_mail()
    survey, survey_context = None, None
    if campaign.pk is not None:
        with translation.override(campaign.language):
            survey = survey_mail.survey_block_for(campaign)
    if survey is not None:
        survey_context = {
            "title": survey.title,
            "question": survey.question,
            "kind": survey.kind,
            "low_hint": survey.low_hint,
            "high_hint": survey.high_hint,
            "buttons": [
                {"label": button.label, "url": slots.placeholder(SURVEY, index)}
                for index, button in enumerate(survey.buttons)
            ],
        }
        text_blocks.append(_survey_text(survey_context))

    subject = slots.with_merge_tags(campaign.subject)
    preheader = slots.with_merge_tags(campaign.preheader)
    unsubscribe = slots.placeholder(UNSUBSCRIBE)
    preferences = slots.placeholder(PREFERENCES)
    layout_context = {
        "language": campaign.language,
        "subject": subject,
        "preheader": preheader,
        "articles": article_contexts,
        "company_address": settings.KANAL_COMPANY_ADDRESS,
        "imprint_url": settings.KANAL_IMPRINT_URL,
        "privacy_url": settings.KANAL_PRIVACY_URL,
        "unsubscribe_url": unsubscribe,
        "preferences_url": preferences,
        "archive_url": archive_url,
        "survey": survey_context,
        "open_pixel": slots.placeholder(PIXEL),
        "honeypot_link": slots.placeholder(HONEYPOT),
    }
    with translation.override(campaign.language):
        mjml_source = render_to_string("campaigns/email/layout.mjml", layout_context)
        footer_text = "\n".join(
            [
                settings.KANAL_COMPANY_ADDRESS,
                _("Imprint: %(url)s") % {"url": settings.KANAL_IMPRINT_URL},
                _("Privacy policy: %(url)s") % {"url": settings.KANAL_PRIVACY_URL},
                _("Manage your subscription: %(url)s") % {"url": preferences},
                _("Unsubscribe: %(url)s") % {"url": unsubscribe},
            ]
        )
        header_text = ""
        if archive_url:
            header_text = _("View this newsletter in your browser: %(url)s") % {"url": archive_url} + "\n\n"
    html_output = mjml.mjml2html(mjml_source, disable_comments=True, fonts={})
    html_output = _inliner().inline(html_output)
    separator = "\n\n" + "-" * 60 + "\n\n"
    text_output = header_text + separator.join(text_blocks) + separator + footer_text + "\n"

    return CompiledCampaign(
        campaign_id=campaign.pk,
        subject_parts=merge_tags.parse(campaign.subject),
        html_template=slots.template(html_output),
        text_template=slots.template(text_output),
        slots=slots.slots,
        links=links,
        survey=survey,
        feedback_article_ids=feedback_article_ids,
        survey_preview_urls=survey_mail.preview_survey_urls(survey) if survey is not None else [],
        feedback_preview_urls=survey_mail.preview_feedback_urls(feedback_article_ids),
    )


def _survey_mail():
    # Imported late: the surveys app builds on campaigns, not the other way round.
    from surveys import mail

    return mail


def _survey_text(survey: dict) -> str:
    """The survey block of the plain-text part: the question, then one line per answer link."""
    lines = [survey["title"], survey["question"]]
    if survey["low_hint"]:
        lines.append(f"({survey['low_hint']}, {survey['high_hint']})")
    lines.append("")
    buttons = survey["buttons"]
    if survey["kind"] == "choices":
        lines += [f"{number}. {button['label']}: {button['url']}" for number, button in enumerate(buttons, 1)]
    else:  # scores are numbers already; the single "answer the survey" link needs none
        lines += [f"{button['label']}: {button['url']}" for button in buttons]
    return "\n".join(lines)


def _inliner() -> css_inline.CSSInliner:
    # Media queries stay in a <style> tag (phones); everything else moves into style attributes.
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def _image_src(article) -> str:
    if article.image:
        return urljoin(settings.SITE_URL + "/", article.image.url)
    return article.image_url


class _TextConverter(HTMLParser):
    """Sanitised article HTML to plain text: paragraphs, list items, links as "text (URL)"."""

    BLOCKS = {"p", "h3", "h4", "blockquote", "pre", "ul", "ol", "hr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href_stack: list[tuple[str | None, int]] = []
        self.list_stack: list[list] = []  # [ordered, counter]

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in self.BLOCKS:
            self.out.append("\n\n")
        if tag in ("ul", "ol"):
            self.list_stack.append([tag == "ol", 0])
        elif tag == "li":
            marker = "- "
            if self.list_stack and self.list_stack[-1][0]:
                self.list_stack[-1][1] += 1
                marker = f"{self.list_stack[-1][1]}. "
            self.out.append("\n" + "  " * max(len(self.list_stack) - 1, 0) + marker)
        elif tag == "br":
            self.out.append("\n")
        elif tag == "hr":
            self.out.append("-" * 20)
        elif tag == "a":
            self.href_stack.append((attributes.get("href"), len(self.out)))
        elif tag == "img" and attributes.get("alt"):
            self.out.append(f"[{attributes['alt']}]")

    def handle_endtag(self, tag):
        if tag in ("ul", "ol") and self.list_stack:
            self.list_stack.pop()
        if tag in self.BLOCKS:
            self.out.append("\n\n")
        elif tag == "a" and self.href_stack:
            href, start = self.href_stack.pop()
            label = "".join(self.out[start:]).strip()
            if href and href != label:
                self.out.append(f" ({href.removeprefix('mailto:')})" if href.startswith("mailto:") else f" ({href})")

    def handle_data(self, data):
        self.out.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        text = "".join(self.out)
        text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(fragment: str) -> str:
    converter = _TextConverter()
    converter.feed(fragment)
    converter.close()
    return converter.text()
