from html.parser import HTMLParser

import pytest

from chat.rendering import ALLOWED_TAGS, render_markdown


class _Elements(HTMLParser):
    """The elements and attributes a browser would build from the HTML."""

    def __init__(self, html):
        super().__init__()
        self.found = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def test_markdown_becomes_html():
    assert render_markdown("**bold** and `code`") == "<p><strong>bold</strong> and <code>code</code></p>\n"


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        "[click](javascript:alert(1))",
        "[click](JAVASCRIPT:alert(1))",
        '<div onclick="alert(1)">x</div>',
        "<iframe src=https://evil.example></iframe>",
        "![x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ],
)
def test_hostile_markup_comes_out_inert(hostile):
    for tag, attrs in _Elements(render_markdown(hostile)).found:
        assert tag in ALLOWED_TAGS - {"script", "img", "iframe"}
        assert not [name for name in attrs if name.startswith("on")]
        assert not attrs.get("href", "").strip().lower().startswith(("javascript:", "data:", "vbscript:"))


def test_raw_html_is_shown_as_text():
    assert "&lt;script&gt;" in render_markdown("<script>alert(1)</script>")


def test_links_are_kept_with_a_safe_rel():
    assert render_markdown("[docs](https://example.com)") == (
        '<p><a href="https://example.com" rel="noopener noreferrer nofollow">docs</a></p>\n'
    )
