"""Article Markdown to sanitised HTML."""

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

LINK_SCHEMES = {"http", "https", "mailto"}
BODY_TAGS = {
    "a", "b", "blockquote", "br", "code", "em", "h3", "h4", "hr", "i", "img", "li", "ol", "p", "pre", "strong", "ul",
}  # fmt: skip
BODY_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}}

# Raw HTML is parsed so that nh3 can remove it (scripts with their content, other tags keeping their text).
_markdown = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})


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


@dataclass(frozen=True)
class BodyReferences:
    """The link targets and images an article body asks for, before sanitising drops any of them."""

    links: tuple[str, ...] = ()
    images: tuple[tuple[str, str], ...] = ()  # (src, alt)
    text: str = ""  # the visible text, for the image-to-text ratio


# The references are read with every link kept, even those markdown-it refuses to make a link
# (javascript:, file:): the reader would see them as raw text, so the checklist names them.
_markdown_any_link = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
_markdown_any_link.validateLink = lambda url: True


class _References(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[tuple[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a":
            self.links.append((attributes.get("href") or "").strip())
        elif tag == "img":
            self.images.append(((attributes.get("src") or "").strip(), (attributes.get("alt") or "").strip()))

    def handle_data(self, data):
        self.text.append(data)


def body_references(body: str) -> BodyReferences:
    """What ``body`` links to and shows, read from the Markdown as written (raw HTML included), so
    the pre-send checklist can name a link that ``render_markdown`` would silently drop."""
    parser = _References()
    parser.feed(_markdown_any_link.render(body))
    parser.close()
    return BodyReferences(
        links=tuple(parser.links), images=tuple(parser.images), text=" ".join("".join(parser.text).split())
    )
