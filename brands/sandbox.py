"""Custom MJML layouts without a template engine: fixed markers filled with Kanal's own blocks.

A custom layout is never run as a Django template. Its source may hold only the markers below;
``layout_fill`` replaces each with a fragment the standard layout's partials rendered (articles,
survey, offer, share, footer with the unsubscribe link and the open pixel) or with an escaped
value. Any other ``{{``, ``{%`` or ``{#`` is refused when the layout is saved, so a layout can
neither load tags nor read variables, and merge tags and tracking stay where the partials put them.
"""

import re
from html.parser import HTMLParser

import mjml
from django.utils.translation import gettext as _

# Blocks: MJML fragments, each a run of <mj-section>s (head: children of <mj-head>).
BLOCK_MARKERS = ("head", "header", "articles", "offer", "survey", "share", "footer")
REQUIRED_MARKERS = ("articles", "footer")
# Blocks a campaign may have whose marker a layout may leave out: they go just before the footer.
OPTIONAL_BLOCKS = ("offer", "survey", "share")
VALUE_MARKERS = (
    "subject",
    "preheader",
    "brand.name",
    "brand.primary_color",
    "brand.accent_color",
    "brand.background_color",
    "brand.text_color",
    "brand.font",
)
MARKERS = BLOCK_MARKERS + VALUE_MARKERS

MARKER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")
TEMPLATE_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")

MJML_ELEMENTS = frozenset(
    [
        "mjml",
        "mj-head",
        "mj-body",
        "mj-attributes",
        "mj-all",
        "mj-class",
        "mj-breakpoint",
        "mj-font",
        "mj-html-attributes",
        "mj-html-attribute",
        "mj-selector",
        "mj-preview",
        "mj-style",
        "mj-title",
        "mj-accordion",
        "mj-accordion-element",
        "mj-accordion-title",
        "mj-accordion-text",
        "mj-button",
        "mj-carousel",
        "mj-carousel-image",
        "mj-column",
        "mj-divider",
        "mj-group",
        "mj-hero",
        "mj-image",
        "mj-navbar",
        "mj-navbar-link",
        "mj-raw",
        "mj-section",
        "mj-social",
        "mj-social-element",
        "mj-spacer",
        "mj-table",
        "mj-text",
        "mj-wrapper",
    ]
)
# Where a block marker may stand: blocks are sections (head: inside <mj-head>).
BLOCK_PARENTS = {"head": ("mj-head",)}
SECTION_PARENTS = ("mj-body", "mj-wrapper")
FORBIDDEN_TAGS = frozenset(
    ["script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "base", "link", "meta", "mj-include"]
)
UNQUOTED_ATTRIBUTE = re.compile(r"""\s[\w:-]+\s*=\s*(?!["'])""")
MJML_POSITION = re.compile(r"at position (\d+):(\d+)")
SAMPLE_SECTION = "<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>"


def validate_layout_source(source: str) -> list[str]:
    """Every problem of a custom layout's source, each naming its line where it has one."""
    errors = _marker_errors(source)
    checker = _StructureChecker()
    checker.feed(source)
    checker.close()
    errors += checker.finish()
    if errors:
        return errors
    samples = {name: SAMPLE_SECTION for name in BLOCK_MARKERS}
    samples["head"] = ""
    # The samples hold no line break, so a position in the filled source is on the same line as in the source.
    filled = layout_fill(source, blocks=samples, values={})
    try:
        mjml.mjml2html(filled, disable_comments=True, fonts={})
    except ValueError as error:
        position = MJML_POSITION.search(str(error))
        if position:
            line = filled.count("\n", 0, int(position.group(1))) + 1
            return [_("Line %(line)s: MJML could not compile this: %(error)s") % {"line": line, "error": error}]
        return [_("MJML could not compile this layout: %(error)s") % {"error": error}]
    return []


def layout_fill(source: str, *, blocks: dict[str, str], values: dict[str, str]) -> str:
    """The layout with each marker replaced: blocks as given (MJML), values escaped.

    Blocks whose marker the layout leaves out (offer, survey, share) go just before the footer.
    Call it only with a source ``validate_layout_source`` accepted.
    """
    missing = "".join(blocks.get(name, "") for name in OPTIONAL_BLOCKS if not _has_marker(source, name))

    def replace(match):
        name = match.group(1)
        if name == "footer":
            return missing + blocks.get("footer", "")
        if name in BLOCK_MARKERS:
            return blocks.get(name, "")
        return _escape(values.get(name, ""))

    return MARKER.sub(replace, source)


def _has_marker(source: str, name: str) -> bool:
    return any(match.group(1) == name for match in MARKER.finditer(source))


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _marker_errors(source: str) -> list[str]:
    errors = []
    seen: dict[str, int] = {}
    for number, line in enumerate(source.splitlines(), 1):
        for match in MARKER.finditer(line):
            name = match.group(1)
            if name not in MARKERS:
                errors.append(
                    _("Line %(line)s: “%(marker)s” is not a marker of Kanal's layouts.")
                    % {"line": number, "marker": match.group(0)}
                )
            elif name in BLOCK_MARKERS and name in seen:
                errors.append(
                    _("Line %(line)s: %(marker)s appears a second time (first on line %(first)s).")
                    % {"line": number, "marker": match.group(0), "first": seen[name]}
                )
            else:
                seen.setdefault(name, number)
        rest = MARKER.sub("", line)
        found = TEMPLATE_SYNTAX.search(rest)
        if found:
            errors.append(
                _(
                    "Line %(line)s: “%(syntax)s” is template syntax. A custom layout may hold only markers such "
                    "as {{ articles }}; no tags, filters or comments."
                )
                % {"line": number, "syntax": _context(rest, found.start())}
            )
    for name in REQUIRED_MARKERS:
        if name not in seen:
            if name == "footer":
                errors.append(
                    _(
                        "The layout has no {{ footer }}: every mail needs the footer with the unsubscribe link, "
                        "the legal address and the open pixel."
                    )
                )
            else:
                errors.append(_("The layout has no {{ articles }}: the campaign's articles would not appear."))
    return errors


def _context(line: str, start: int) -> str:
    end = line.find("}", start + 2)
    return line[start : end + 1 if end != -1 else start + 20].strip()


class _StructureChecker(HTMLParser):
    """Checks the MJML elements: known, closed in order, quoted attributes, nothing that runs."""

    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.stack: list[tuple[str, int]] = []
        self.errors: list[str] = []

    def _line(self) -> int:
        return self.getpos()[0]

    def _check_start(self, tag, attrs):
        line = self._line()
        if tag in FORBIDDEN_TAGS:
            self.errors.append(_("Line %(line)s: <%(tag)s> is not allowed in a layout.") % {"line": line, "tag": tag})
        elif tag.startswith("mj") and tag not in MJML_ELEMENTS:
            self.errors.append(_("Line %(line)s: <%(tag)s> is not an MJML element.") % {"line": line, "tag": tag})
        for name, value in attrs:
            if name.startswith("on"):
                self.errors.append(
                    _("Line %(line)s: the attribute %(name)s is not allowed.") % {"line": line, "name": name}
                )
            elif value and value.strip().lower().startswith(("javascript:", "vbscript:", "data:text")):
                self.errors.append(
                    _("Line %(line)s: %(name)s may not hold a script address.") % {"line": line, "name": name}
                )
        if tag.startswith("mj") and UNQUOTED_ATTRIBUTE.search(self.get_starttag_text() or ""):
            self.errors.append(
                _("Line %(line)s: put the attribute values of <%(tag)s> in quotes.") % {"line": line, "tag": tag}
            )

    def handle_starttag(self, tag, attrs):
        self._check_start(tag, attrs)
        if tag.startswith("mj"):
            self.stack.append((tag, self._line()))

    def handle_startendtag(self, tag, attrs):
        self._check_start(tag, attrs)

    def handle_endtag(self, tag):
        if not tag.startswith("mj"):
            return
        line = self._line()
        if not self.stack:
            self.errors.append(
                _("Line %(line)s: </%(tag)s> closes an element that was never opened.") % {"line": line, "tag": tag}
            )
            return
        opened, opened_line = self.stack[-1]
        if opened != tag:
            self.errors.append(
                _("Line %(line)s: </%(tag)s> found, but <%(open)s> from line %(open_line)s is still open.")
                % {"line": line, "tag": tag, "open": opened, "open_line": opened_line}
            )
            if any(name == tag for name, _line in self.stack):
                while self.stack[-1][0] != tag:
                    self.stack.pop()
            self.stack.pop()  # a misspelt end tag most likely meant to close the open element
            return
        self.stack.pop()

    def handle_data(self, data):
        if "{{" not in data:
            return
        parent = self.stack[-1][0] if self.stack else ""
        line = self._line()
        for offset, text_line in enumerate(data.split("\n")):
            for match in MARKER.finditer(text_line):
                name = match.group(1)
                if name not in BLOCK_MARKERS:
                    continue
                allowed = BLOCK_PARENTS.get(name, SECTION_PARENTS)
                if parent not in allowed:
                    self.errors.append(
                        _("Line %(line)s: %(marker)s must stand directly inside %(parents)s.")
                        % {
                            "line": line + offset,
                            "marker": match.group(0),
                            "parents": " / ".join(f"<{tag}>" for tag in allowed),
                        }
                    )

    def finish(self) -> list[str]:
        for tag, line in reversed(self.stack):
            self.errors.append(_("Line %(line)s: <%(tag)s> is never closed.") % {"line": line, "tag": tag})
        return self.errors
