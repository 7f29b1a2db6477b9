"""A reply split at random places arrives whole: in the provider's tokens, and in the bytes on the wire.

Hypothesis draws a text (emoji sequences, CJK, combining marks, a fenced code block, JSON-looking
lines) and a nested JSON object of tool-call arguments, splits the text into tokens and the
arguments' JSON into fragments at random characters, builds the provider's real stream (OpenAI or
Anthropic), and cuts its bytes at random offsets, inside UTF-8 characters, `data:` lines and
strings (tests/support/chunking.py). Through the whole application, the tool receives exactly the
arguments, and the stored reply, its `assistant.completed` text and its deltas applied by offset
all equal the text. `CHUNKING_EXAMPLES` sets the examples per family (default 40).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import wire
from tests.support.chunking import body_in_pieces
from tests.support.mcp_servers import Probe
from tests.support.providers import ANTHROPIC_URL, BACKUP, OPENAI_URL, PRIMARY
from tests.support.scripted_model import probe_hub
from tests.support.socket import connected, final_reply, reply_text, run_turn
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("CHUNKING_EXAMPLES", "40"))
TOOL = "probe__keep"

HARD_PIECES = [
    "👩‍👩‍👧‍👦", "🇫🇷", "漢字とかな", "한국어", "e\u0301", "Z\u0351\u0336", "```python\nprint('héllo')\n```\n",
    '{"nested": [1, {"a": "ü"}]}', "data: not a frame\n\n", "\\n", " ", "\n", "\t",
]
characters = st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"])
texts = (
    st.lists(st.sampled_from(HARD_PIECES) | st.text(characters, min_size=1, max_size=12), min_size=1, max_size=8)
    .map("".join)
    .filter(lambda text: text.strip())
)
leaves = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(characters, max_size=10) | st.sampled_from(HARD_PIECES)
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(characters, max_size=6), inner, max_size=3), max_leaves=12)
arguments = st.dictionaries(st.text(characters, min_size=1, max_size=8), json_values, min_size=1, max_size=4)


def _split(draw: st.DrawFn, text: str) -> list[str]:
    """text in pieces at random characters (a provider's tokens or argument fragments)."""
    points = sorted(set(draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=12))))
    edges = [0, *[p for p in points if 0 < p < len(text)], len(text)]
    return [text[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def _cuts(draw: st.DrawFn, body: bytes) -> list[int]:
    return draw(st.lists(st.integers(1, len(body) - 1), max_size=40))


@st.composite
def scripted_replies(draw: st.DrawFn, family: str) -> tuple[str, dict[str, Any], list[Any]]:
    """(the reply's text, the tool call's arguments, the two response bodies in pieces)."""
    text, args = draw(texts), draw(arguments)
    tokens, fragments = _split(draw, text), _split(draw, json.dumps({"data": args}, ensure_ascii=False))
    if family == "openai":
        bodies = [
            wire.openai_sse(wire.openai_tool_call_chunks("call_1", TOOL, fragments)),
            wire.openai_sse(wire.openai_text_chunks(tokens) + [wire.openai_usage_chunk(10, len(tokens))]),
        ]
    else:
        bodies = [
            wire.anthropic_sse(wire.anthropic_tool_use_events("call_1", TOOL, fragments)),
            wire.anthropic_sse(wire.anthropic_text_events(tokens)),
        ]
    encoded = [body.encode("utf-8") for body in bodies]
    return text, args, [(body, _cuts(draw, body)) for body in encoded]


@pytest.fixture
async def probe(settings) -> AsyncIterator[Probe]:
    """One probe server for every example of a test (a hub per example would cost most of the run)."""
    settings.CHAT_RATE_LIMIT_MESSAGES = 10**9
    async with probe_hub() as (_, probe):
        yield probe


async def _one_reply(user: Any, probe: Probe, url: str, drawn: tuple[str, dict[str, Any], list[Any]]) -> None:
    text, args, bodies = drawn
    calls_before = len(probe.calls_to("keep"))
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        for body, cuts in bodies:
            mock.add(responses.POST, url, body=body_in_pieces(body, cuts), headers=wire.SSE_HEADERS)
        async with connected(user) as comm:
            frames = await run_turn(comm, "keep this", timeout=15)

    assert probe.calls_to("keep")[calls_before:] == [{"data": args}], "the tool did not receive the exact arguments"
    done = final_reply(frames)
    assert (done["status"], done["text"]) == ("complete", text)
    assert reply_text(frames, seq=done["seq"]) == text, "the deltas applied by offset differ from the reply"
    rows = await stored(done["conversation_id"])
    assert rows[-1].content == text and rows[-1].status == "complete"
    assert frames[-1]["type"] == "turn.finished" and frames[-1]["status"] == "complete"


SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(drawn=scripted_replies("openai"))
async def test_openai_stream_cut_anywhere_gives_the_exact_reply_and_tool_arguments(user, use_providers, probe, drawn):
    use_providers(PRIMARY)
    await _one_reply(user, probe, OPENAI_URL, drawn)


@SETTINGS
@given(drawn=scripted_replies("anthropic"))
async def test_anthropic_stream_cut_anywhere_gives_the_exact_reply_and_tool_arguments(user, use_providers, probe, drawn):
    use_providers(BACKUP)
    await _one_reply(user, probe, ANTHROPIC_URL, drawn)
