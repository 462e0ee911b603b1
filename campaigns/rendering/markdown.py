"""Article Markdown to sanitised HTML."""

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
