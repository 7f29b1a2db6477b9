"""In the browser, a reply whose stream is cut at random bytes shows exactly the stored text (fixed seeds).

Each seed builds a text of hard pieces (emoji sequences, CJK, combining marks, a code fence,
JSON-looking lines), splits it into tokens, and cuts the OpenAI stream's bytes at random offsets
(inside UTF-8 characters, `data:` lines and strings); the fake server sends each piece as its own
HTTP chunk. While the reply streams, the page shows its text plainly: it must equal the text,
before the end and as stored. tests/integration/test_random_chunking.py does this for many examples.
"""

from __future__ import annotations

import random

import pytest
from playwright.sync_api import expect

from chat.models import Message
from e2e.pages.chat_page import ChatPage
from tests.support import wire
from tests.support.chunking import cut
from tests.support.fake_llm_server import Frame, Hold, raw_reply, text_reply

PIECES = ["👩‍👩‍👧‍👦", "🇫🇷", "漢字とかな", "e\u0301", "```python\nprint('héllo')\n```\n", '{"a": [1, {"b": "ü"}]}',
          "data: x\n\n", "plain words ", "\n"]


def _drawn(seed: int) -> tuple[str, list[bytes], bytes]:
    """(the text, its stream up to the last token in random byte pieces, the rest of the stream)."""
    rng = random.Random(seed)
    text = "".join(rng.choice(PIECES) for _ in range(10)).strip() + " end"
    points = sorted(rng.sample(range(1, len(text)), 8))
    tokens = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    chunks = wire.openai_text_chunks(tokens)
    body = wire.openai_sse(chunks[:-1], done=False).encode()
    tail = wire.openai_sse(chunks[-1:]).encode()
    return text, cut(body, rng.sample(range(1, len(body)), 30)), tail


def streamed_text(chat: ChatPage, expected: str) -> str:
    """The streaming reply's plain text once it equals `expected`, or as it is after 5 s (exact, whitespace kept)."""
    return chat.body(chat.last_assistant()).evaluate(
        "(node, expected) => new Promise((resolve) => {"
        "  const deadline = Date.now() + 5000;"
        "  const check = () => (node.textContent === expected || Date.now() > deadline)"
        "    ? resolve(node.textContent) : requestAnimationFrame(check);"
        "  check(); })", expected)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_stream_cut_at_random_bytes_shows_exactly_the_stored_text(chat: ChatPage, fake_llm, seed: int) -> None:
    text, pieces, tail = _drawn(seed)
    fake_llm.script(raw_reply(*[Frame(piece) for piece in pieces], Hold("before-the-end"), Frame(tail)))

    chat.send("show me")
    fake_llm.wait_until_held("before-the-end")
    reply = chat.last_assistant()
    expect(reply).to_have_attribute("data-status", "streaming")
    page_text = streamed_text(chat, text)
    assert page_text == text, "the page's streamed text differs from the reply"
    fake_llm.release("before-the-end")
    expect(reply).to_have_attribute("data-status", "complete")
    stored = Message.objects.get(conversation_id=chat.conversation_id_from_url(), role="assistant")
    assert stored.content == text


def test_deltas_after_emoji_land_where_they_belong(chat: ChatPage, fake_llm) -> None:
    """Offsets count code points, and an emoji is two UTF-16 units in the page: each token here is its own delta."""
    tokens = ["🇫🇷 flag, ", "👩‍👩‍👧‍👦 family, ", "e\u0301 accent, ", "漢字 ", "more "]
    fake_llm.script(text_reply(*tokens, Hold("before-the-end"), "end.", delay=0.15))

    chat.send("emoji please")
    fake_llm.wait_until_held("before-the-end")

    assert streamed_text(chat, "".join(tokens)) == "".join(tokens), "a delta after an emoji landed in the wrong place"
    fake_llm.release("before-the-end")
    expect(chat.last_assistant()).to_have_attribute("data-status", "complete")
