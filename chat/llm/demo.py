"""The offline demo model: deterministic, no network, able to use the built-in tools."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

from chat.llm import demo_documents
from chat.llm.base import Finish, LLMEvent, LLMRequest, Started, TextDelta, ToolCall

# Only this much of a message is parsed: a longer one is not a request the demo understands, and
# every pattern below then runs in bounded time whatever the text holds.
MAX_PARSED_CHARS = 300
# Simple patterns with no nested or adjacent overlapping repetition (linear-time).
ASK = re.compile(r"\b(?:what\s+is|what's|calculate|compute)\s", re.I)
ARITHMETIC = re.compile(r"[-+*/^().\d\s×÷%]+")
TIME_WORD = re.compile(r"\btime\b", re.I)
ZONE = re.compile(r"\bin\s+([A-Za-z_]+(?:/[A-Za-z_]+)*)", re.I)
CONVERT = re.compile(r"\bconvert\s+(-?[\d.]+)\s*([a-zA-Z°]+)\s+(?:to|in|into)\s+([a-zA-Z°]+)", re.I)
# A persona's system prompt names it ("You are Skeptic. ...", "You are Captain Arr, a pirate ...").
PERSONA_NAME = re.compile(r"^\s*You are ([A-Z][\w'-]*(?: [A-Z][\w'-]*){0,3})\b")
# The note a multi-AI conversation adds to each participant's prompt (chat/personas.py Speaker.instructions).
OTHERS = re.compile(r"with a person and other AI participants: ([^\n]{1,400}?)\. Their messages start with their name")
# The persona's voice, from words in its prompt: the first that matches opens every reply.
VOICES = [
    (re.compile(r"\bpirate", re.I), "Arr!"),
    (re.compile(r"\b(?:question|skeptic|doubt)", re.I), "Let me push back a little."),
    (re.compile(r"\bstep by step\b", re.I), "Let's take it step by step."),
    (re.compile(r"\b(?:poet|rhyme|verse)", re.I), "In a line of verse:"),
]


class DemoModel:
    """Recognises a few requests and calls the built-in tools for them; otherwise it explains itself."""

    provider = "demo"
    model = "offline-demo"
    label = "offline demo"
    offline = True

    def __init__(self, token_delay: float = 0.0) -> None:
        self.token_delay = token_delay

    async def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]:
        yield Started(self.provider, self.model)
        last = request.messages[-1]
        available = {tool.name for tool in request.tools}
        if last.role == "tool" and last.tool_name == demo_documents.SEARCH_TOOL and not last.is_error:
            text = demo_documents.answer_from_search(last.content, _question(request))
        elif last.role == "tool":
            text = self._answer_from_tool(last.content, last.is_error)
        elif (other := _other_participant(request, last.content)) is not None:
            text = (
                f"I read what {other} said. As the offline demo model I can only add my voice to a discussion; "
                "configure an LLM provider for a real one."
            )
        else:
            call = self._tool_call_for(last.content, available)
            if call is None and demo_documents.wants_search(available):
                call = ToolCall(f"demo_{uuid.uuid4().hex[:12]}", demo_documents.SEARCH_TOOL, {"query": last.content[:MAX_PARSED_CHARS]})
            if call is not None:
                yield call
                yield Finish("tool_calls", {"input_tokens": 0, "output_tokens": 0})
                return
            quoted = demo_documents.answer_from_quoted(_system(request), last.content[:MAX_PARSED_CHARS])
            text = quoted or (
                "I am the offline demo model, so I can only do a few things: arithmetic "
                '("what is 12*7"), the time somewhere ("time in Europe/Paris") and unit conversion '
                '("convert 5 km to mi"). Configure an LLM provider to chat for real.'
            )
        text = _voice(request) + text
        for token in re.findall(r"\S+\s*", text):
            yield TextDelta(token)
            if self.token_delay:
                await asyncio.sleep(self.token_delay)
        yield Finish("stop", {"input_tokens": 0, "output_tokens": len(text.split())})

    @staticmethod
    def _tool_call_for(text: str, available: set[str]) -> ToolCall | None:
        call_id = f"demo_{uuid.uuid4().hex[:12]}"
        if len(text) > MAX_PARSED_CHARS:
            return None
        if (expression := _arithmetic(text)) and "builtin__calculator" in available:
            return ToolCall(call_id, "builtin__calculator", {"expression": expression})
        if (zone := _time_zone(text)) and "builtin__current_time" in available:
            return ToolCall(call_id, "builtin__current_time", {"timezone": zone})
        if (m := CONVERT.search(text)) and "builtin__convert_units" in available:
            value, source, target = m.groups()
            try:
                number = float(value)
            except ValueError:  # "1.2.3"
                return None
            return ToolCall(call_id, "builtin__convert_units", {"value": number, "from_unit": source, "to_unit": target})
        return None

    @staticmethod
    def _answer_from_tool(result: str, is_error: bool) -> str:
        if is_error:
            return f"The tool reported an error: {result}"
        return f"The answer is **{result}**."


def _system(request: LLMRequest) -> str:
    return next((m.content for m in request.messages if m.role == "system"), "")


def _question(request: LLMRequest) -> str:
    """The person's last message (what a search result answers)."""
    return next((m.content[:MAX_PARSED_CHARS] for m in reversed(request.messages) if m.role == "user"), "")


def _voice(request: LLMRequest) -> str:
    """How a persona opens its replies: its name, and a phrase in its style, so two personas read apart offline."""
    system = next((m.content[:MAX_PARSED_CHARS * 4] for m in request.messages if m.role == "system"), "")
    system = system.split("\n\n")[0]  # the persona's own words, not the note naming the other participants
    name = PERSONA_NAME.match(system)
    if name is None:
        return ""
    opening = next((phrase for pattern, phrase in VOICES if pattern.search(system)), "")
    return f"{name.group(1)} here. " + (f"{opening} " if opening else "")


def _other_participant(request: LLMRequest, text: str) -> str | None:
    """In a multi-AI conversation, the participant whose message this is ("Ada: ..."), never acted on as a request."""
    system = next((m.content for m in request.messages if m.role == "system"), "")
    listed = OTHERS.search(system)
    if listed is None:
        return None
    return next((name for name in listed.group(1).split(", ") if text.startswith(f"{name}: ")), None)


def _arithmetic(text: str) -> str | None:
    """The expression after "what is" (or calculate, compute) when the rest of the text is arithmetic."""
    for ask in ASK.finditer(text):
        rest = text[ask.end():].strip().removesuffix("?").strip()
        if rest and ARITHMETIC.fullmatch(rest):
            return rest
    return None


def _time_zone(text: str) -> str | None:
    if (word := TIME_WORD.search(text)) and (zone := ZONE.search(text, word.end())):
        return zone.group(1)
    return None
