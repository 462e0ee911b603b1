"""Sanitised article HTML to the plain-text part."""

import re
from html.parser import HTMLParser


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
