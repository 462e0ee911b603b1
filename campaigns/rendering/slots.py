"""A compiled campaign: static segments and per-recipient slots, and filling them for one recipient."""

import html
import re
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from campaigns import merge_tags
from campaigns.merge_tags import MergeTag


@dataclass(frozen=True, slots=True)
class RecipientContext:
    """Everything a message may differ in per recipient. Only public subscriber fields are here."""

    email: str = ""
    first_name: str = ""
    last_name: str = ""
    language: str = ""
    # Custom field values as stored in Subscriber.fields; merge tags read only the keys they name.
    fields: Mapping[str, object] | None = None
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
    # Values of the merge tags other apps register (campaigns.extensions.RECIPIENT_VALUES).
    values: Mapping[str, str] | None = None
    # The share block (campaigns.extensions.ShareBlock): one URL per share link, None renders the
    # campaign's own; and the recipient's "forward to a friend" page, empty renders no forward link.
    share_urls: Sequence[str] | None = None
    forward_url: str = ""
    # Values sent with one transactional mail, for ``{{ data.<name> }}`` (merge_tags.REQUEST_DATA).
    data: Mapping[str, object] | None = None

    @classmethod
    def for_subscriber(cls, subscriber, **urls) -> "RecipientContext":
        return cls(
            email=subscriber.email,
            first_name=subscriber.first_name,
            last_name=subscriber.last_name,
            language=subscriber.language,
            fields=subscriber.fields,
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
# SHARE: an index into the recipient's share_urls. FORWARD: the whole forward link, its argument
# the link's label and colour, since a recipient without a forward URL gets no link at all.
SHARE, FORWARD = "share", "forward"

# How many layouts of one campaign for different sets of conditional articles stay compiled
# (CompiledCampaign.variant): four conditional articles make at most 16.
MAX_CACHED_VARIANTS = 16


@dataclass(slots=True)
class SlotTemplate:
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
    html_template: SlotTemplate
    text_template: SlotTemplate
    slots: list[tuple[str, object]]
    links: list[CompiledLink] = field(default_factory=list)
    # The survey block (surveys.mail.MailSurveyBlock) and the articles with feedback links, for
    # surveys.mail.AnswerLinks; the preview URLs fill those slots when a recipient has none.
    survey: object = None
    feedback_article_ids: list[int] = field(default_factory=list)
    survey_preview_urls: list[str] = field(default_factory=list)
    feedback_preview_urls: list[str] = field(default_factory=list)
    # The forward and share block (campaigns.extensions.ShareBlock), and its links for readers
    # without their own share URLs.
    share: object = None
    share_default_urls: list[str] = field(default_factory=list)
    # Conditional content: article id -> segment id of every article shown only to a segment, in
    # mail order (empty for most campaigns); which of them these templates show; and the layout
    # function of compile_campaign that builds the templates for another choice.
    conditional_articles: dict[int, int] = field(default_factory=dict)
    shown: frozenset[int] = frozenset()
    layout: Callable[[frozenset[int]], tuple[SlotTemplate, SlotTemplate]] | None = field(default=None, repr=False)
    _variants: dict[frozenset[int], "CompiledCampaign"] = field(default_factory=dict, init=False, repr=False)

    @property
    def has_answer_links(self) -> bool:
        return self.survey is not None or bool(self.feedback_article_ids)

    def variant(self, visible: Collection[int]) -> "CompiledCampaign":
        """The campaign as a recipient sees it who may see the conditional articles in ``visible``.

        A variant shares everything but its two templates with this campaign: the slots, the
        links and the answer blocks, so one recipient's ``slot_values`` fill any variant. The
        first call per choice lays the mail out again (milliseconds); the last
        ``MAX_CACHED_VARIANTS`` choices are kept.
        """
        key = self.conditional_articles.keys() & visible if self.conditional_articles else frozenset()
        key = frozenset(key)
        if key == self.shown or self.layout is None:
            return self
        cached = self._variants.pop(key, None)
        if cached is None:
            if len(self._variants) >= MAX_CACHED_VARIANTS:
                del self._variants[next(iter(self._variants))]
            html_template, text_template = self.layout(key)
            cached = replace(self, html_template=html_template, text_template=text_template, shown=key)
        self._variants[key] = cached  # most recently used last
        return cached

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
            elif kind == SHARE:
                urls = recipient.share_urls
                url = (urls if urls is not None else self.share_default_urls)[argument]
                html_values.append(escape(url))
                text_values.append(url)
            elif kind == FORWARD:
                forward = recipient.forward_url
                label, color = argument
                html_values.append(
                    f'<a href="{escape(forward)}" style="color:{color};font-weight:bold;">{escape(label)}</a>'
                    if forward
                    else ""
                )
                text_values.append(f"{label}: {forward}" if forward else "")
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


class Slots:
    """Hands out unguessable placeholders that survive Markdown, nh3, MJML and css-inline unchanged."""

    def __init__(self, *, request_data: bool = False):
        self.request_data = request_data
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
        parts = merge_tags.parse(text, request_data=self.request_data)
        return "".join(part if isinstance(part, str) else self.placeholder(MERGE, part) for part in parts)

    def template(self, text: str) -> SlotTemplate:
        segments: list[str] = []
        holes: list[tuple[int, int]] = []
        position = 0
        for match in self.pattern.finditer(text):
            segments.append(text[position : match.start()])
            holes.append((len(segments), int(match.group(1))))
            segments.append("")
            position = match.end()
        segments.append(text[position:])
        return SlotTemplate(segments=segments, holes=holes)

    def restore_literal(self, text: str) -> str:
        """Undo merge placeholders where tags are not expanded (inside link URLs)."""

        def literal(match):
            kind, argument = self.slots[int(match.group(1))]
            return _tag_source(argument) if kind == MERGE else match.group(0)

        return self.pattern.sub(literal, text)


def _tag_source(tag: MergeTag) -> str:
    filters = "".join(f'|{name}:"{arg}"' if arg is not None else f"|{name}" for name, arg in tag.filters)
    if tag.field == merge_tags.REQUEST_DATA:
        return f"{{{{ data.{tag.key}{filters} }}}}"
    field = f"fields.{tag.key}" if tag.key else tag.field
    return f"{{{{ subscriber.{field}{filters} }}}}"
