from html.parser import HTMLParser

import pytest

from chat.management.commands.pygments_css import PATH as PYGMENTS_CSS
from chat.management.commands.pygments_css import stylesheet
from chat.rendering import ALLOWED_TAGS, HIGHLIGHT_CLASSES, MAX_HIGHLIGHT_CHARS, render_markdown, sanitize


class _Elements(HTMLParser):
    """The elements and attributes a browser would build from the HTML."""

    def __init__(self, html):
        super().__init__()
        self.found = []
        self.text = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text += data


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
    """Shown to the reader as the text it is, inside elements that cannot run or load anything."""
    elements = _Elements(render_markdown(hostile))
    assert elements.text.strip() == hostile
    assert elements.found, "nothing was rendered"
    for tag, attrs in elements.found:
        assert tag in ALLOWED_TAGS - {"script", "img", "iframe"}
        assert not [name for name in attrs if name.startswith("on")]
        assert not attrs.get("href", "").strip().lower().startswith(("javascript:", "data:", "vbscript:"))


def test_raw_html_is_shown_as_text():
    assert "&lt;script&gt;" in render_markdown("<script>alert(1)</script>")


def test_links_are_kept_with_a_safe_rel():
    assert render_markdown("[docs](https://example.com)") == (
        '<p><a href="https://example.com" rel="noopener noreferrer nofollow">docs</a></p>\n'
    )


def test_a_fenced_block_in_a_known_language_is_highlighted_with_pygments_spans():
    html = render_markdown('```python\ndef f(x):\n    return "<b>"\n```\n')
    assert html.startswith('<pre><code class="language-python"><span class="k">def</span>')
    assert '<span class="nf">f</span>' in html
    assert '<span class="s2">"&lt;b&gt;"</span>' in html  # the code's own markup stays text
    spans = [attrs for tag, attrs in _Elements(html).found if tag == "span"]
    assert spans and all(attrs["class"] in HIGHLIGHT_CLASSES for attrs in spans)


def test_spans_keep_only_pygments_classes_and_nothing_else():
    """The sanitizer's span allowance is for Pygments' classes: no other class, no other attribute."""
    html = "".join(
        render_markdown(text) for text in [
            "```html\n<span class='k evil' onclick='x' style='color:red'>hi</span>\n```",
            "text <span class='k'>raw</span>",
        ]
    )
    spans = [attrs for tag, attrs in _Elements(html).found if tag == "span"]
    assert len(spans) > 10, f"the html block was not highlighted: {html}"
    for attrs in spans:
        assert set(attrs) == {"class"} and attrs["class"] in HIGHLIGHT_CLASSES, attrs
    assert "text &lt;span class='k'&gt;raw&lt;/span&gt;" in html
    # nh3 itself is what enforces it, whatever markdown-it produced
    assert sanitize('<span class="k evil" style="x" id="y">a</span>') == '<span class="k">a</span>'


def test_unknown_or_missing_languages_and_huge_blocks_are_shown_plain():
    assert render_markdown("```nosuchlanguage\n<i>x</i>\n```") == (
        '<pre><code class="language-nosuchlanguage">&lt;i&gt;x&lt;/i&gt;\n</code></pre>\n'
    )
    assert render_markdown("```\nx = 1\n```") == "<pre><code>x = 1\n</code></pre>\n"
    huge = "x = 1\n" * (MAX_HIGHLIGHT_CHARS // 6 + 1)
    assert "<span" not in render_markdown(f"```python\n{huge}```")


def test_tables_render():
    found = [tag for tag, _ in _Elements(render_markdown("| a | b |\n|---|--:|\n| 1 | 2 |")).found]
    assert found == ["table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td"]


def test_the_committed_pygments_stylesheet_is_the_generated_one():
    """Regenerate with `manage.py pygments_css` after a Pygments upgrade."""
    assert PYGMENTS_CSS.read_text() == stylesheet()
