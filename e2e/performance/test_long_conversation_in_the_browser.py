"""The performance suite in the browser (`make perf`; deselected from the default run).

A conversation of 5,000 stored messages (PERF_BROWSER_MESSAGES) is opened: the time to render its
newest page, and whether the page stays responsive while it does (long tasks, the longest gap
between animation frames, characters typed into the composer appearing). The same figures for a
conversation of one turn are the baseline measured in the same run. Nothing here asserts a time.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from chat import services
from chat.models import Message
from e2e.pages.chat_page import ChatPage
from tests.support.perf import count, record
from tests.support.stored import store_line

pytestmark = pytest.mark.performance

TYPED = "is the page still listening?"
# Installed before the page's own scripts: long tasks (script), long animation frames (script, style,
# layout and paint together, over 50 ms) and every animation frame's time. Counted from DOMContentLoaded:
# what the person waits through once the page is there, not the page's own start.
PROBE = """
window.__probe = { longTasks: [], longFrames: [], frames: [] };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__probe.longTasks.push([entry.startTime, entry.duration]);
}).observe({ type: "longtask", buffered: true });
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__probe.longFrames.push([entry.startTime, entry.duration]);
}).observe({ type: "long-animation-frame", buffered: true });
(function tick(now) { window.__probe.frames.push(now); requestAnimationFrame(tick); })(performance.now());
"""


def _stored_conversation(owner: Any, turns: int) -> Any:
    """`turns` tool turns of four messages each: a question, a tool call, its result, a markdown reply."""
    conversation = services.conversation_create(owner=owner, first_text="a very long one")
    rows = []
    for turn in range(turns):
        call = {"id": f"call_{turn}", "name": "builtin__calculator", "arguments": {"expression": f"{turn}*7"}}
        seq = 4 * turn
        rows += [
            Message(conversation=conversation, seq=seq + 1, role="user", content=f"what is {turn}*7"),
            Message(conversation=conversation, seq=seq + 2, role="assistant", tool_calls=[call]),
            Message(conversation=conversation, seq=seq + 3, role="tool", content=str(turn * 7), tool_call_id=call["id"],
                    tool_name=call["name"], tool_arguments=call["arguments"], tool_outcome="result"),
            Message(conversation=conversation, seq=seq + 4, role="assistant",
                    content=f"The answer to turn {turn} is **{turn * 7}**.\n\n- asked: `{turn}*7`\n- tool: calculator"),
        ]
    store_line(conversation, rows)
    return conversation


def _open_and_probe(page: Page, conversation: Any, turns: int) -> dict[str, Any]:
    chat = ChatPage(page)
    began = time.perf_counter()
    chat.open(conversation.pk)
    expect(chat.messages.last).to_contain_text(f"The answer to turn {turns - 1} is {(turns - 1) * 7}.")
    render_ms = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    chat.composer.press_sequentially(TYPED)
    expect(chat.composer).to_have_value(TYPED)
    typing_ms = (time.perf_counter() - began) * 1000
    probe = page.evaluate("""() => {
        const nav = performance.getEntriesByType("navigation")[0];
        const from = nav.domContentLoadedEventEnd;
        const frames = window.__probe.frames.filter((t) => t >= from);
        const gaps = frames.slice(1).map((t, i) => t - frames[i]);
        const after = (entries) => entries.filter(([start, d]) => start + d >= from).map(([, d]) => d);
        const longTasks = after(window.__probe.longTasks), longFrames = after(window.__probe.longFrames);
        return { dom_content_loaded_ms: from, longest_frame_gap_ms: Math.max(0, ...gaps),
                 long_tasks: longTasks.length, longest_task_ms: Math.max(0, ...longTasks),
                 long_animation_frames: longFrames.length, longest_animation_frame_ms: Math.max(0, ...longFrames),
                 rendered: document.querySelectorAll('[data-testid="message"], [data-testid="tool-card"]').length };
    }""")
    return {"messages": turns * 4, "render_ms": round(render_ms, 1), "typing_ms_per_char": round(typing_ms / len(TYPED), 2),
            **{key: round(value, 1) if isinstance(value, float) else value for key, value in probe.items()}}


def test_a_conversation_of_thousands_of_messages_opens_and_stays_responsive(make_user, logged_in_context) -> None:
    """Opens at its newest page, with the composer answering typing at once; figures against a one-turn baseline."""
    turns = max(1, count("browser_messages", 5000) // 4)
    person = make_user("alice")
    page = logged_in_context(person).new_page()
    page.add_init_script(PROBE)
    ChatPage(page).open()  # warm-up: the first page load fetches the scripts and styles; neither measured open should
    baseline = _open_and_probe(page, _stored_conversation(person, 1), 1)
    long = _open_and_probe(page, _stored_conversation(person, turns), turns)

    expect(page.get_by_role("button", name="Load earlier messages")).to_be_attached()
    record("browser", {**long, "baseline_one_turn": baseline,
                       "ratios_to_baseline": {key: round(long[key] / baseline[key], 2) if baseline[key] else None
                                              for key in ("render_ms", "typing_ms_per_char", "longest_frame_gap_ms",
                                                          "longest_animation_frame_ms")}})
