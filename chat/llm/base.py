"""The seam between the turn engine and any LLM: neutral messages in, a stream of events out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model: a unique name, a description and a JSON schema for its input."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """A tool call of the model: a stream event once its arguments are fully assembled, and part of an
    assistant message in history."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ChatMessage:
    """One message of history in provider-neutral form.

    role is "system", "user", "assistant" (content and/or tool_calls) or "tool"
    (content is the result, tool_call_id names the call, is_error marks a failed tool).
    """

    role: str
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    tool_name: str = ""
    is_error: bool = False


@dataclass(frozen=True)
class LLMRequest:
    """What to ask. A persona may prefer a provider (tried first, the rest of the chain after it), ask that
    provider for another model, and set a temperature; empty or None keeps the configuration's."""

    messages: list[ChatMessage]
    tools: list[ToolSpec] = field(default_factory=list)
    provider: str = ""
    model: str = ""
    temperature: float | None = None


# Events a provider stream yields, in this order: Started, then any number of TextDelta and
# ToolCall, then exactly one Finish. Failures raise LLMError instead.


@dataclass(frozen=True)
class Started:
    provider: str
    model: str


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Finish:
    reason: str  # "stop", "tool_calls", "length", ...
    usage: dict[str, int] = field(default_factory=dict)


LLMEvent = Started | TextDelta | ToolCall | Finish


class LLMError(Exception):
    """A reply could not be produced; the message is shown to the person as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LLM(Protocol):
    """What the turn engine talks to: the configured chain of providers, or the demo model.

    Cancelling the consuming task (or closing the iterator) must close any HTTP stream promptly.
    """

    def stream(self, request: LLMRequest) -> AsyncIterator[LLMEvent]: ...
