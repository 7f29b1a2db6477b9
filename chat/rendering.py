"""Markdown to sanitized HTML: the only HTML the browser ever inserts comes from here.

Fenced code with a language Pygments knows is highlighted here, on the server, as spans whose classes
are Pygments' short token names; nh3 then lets through exactly those classes on spans and nothing else.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# Past this size a block is shown plain: highlighting cost grows with it and nobody reads colours there.
MAX_HIGHLIGHT_CHARS = 20_000

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del", "span",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}}
# Pygments' token classes ("k", "nf", "s2", ...): the only classes a span may carry.
HIGHLIGHT_CLASSES = frozenset(name for name in STANDARD_TYPES.values() if name)

_formatter = HtmlFormatter(nowrap=True)


def _highlight(code: str, language: str, _attrs: str) -> str:
    """Pygments spans for a fenced block in a known language; "" (markdown-it then escapes it) otherwise."""
    if not language or len(code) > MAX_HIGHLIGHT_CHARS:
        return ""
    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return ""
    return highlight(code, lexer, _formatter)


# Raw HTML in markdown is shown as text ("html": False), then nh3 strips anything left that could run.
_markdown = MarkdownIt(
    "commonmark", {"html": False, "linkify": False, "typographer": False, "highlight": _highlight}
).enable("table")


def render_markdown(text: str) -> str:
    """Render a reply's markdown to HTML that is safe to insert into the page."""
    return sanitize(_markdown.render(text))


def sanitize(html: str) -> str:
    """Keep only the allow-listed tags, attributes, span classes and URL schemes."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes={"span": HIGHLIGHT_CLASSES},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
