"""Personas and who answers: the built-in personas, a participant as the engine sees it, the order of answering.

A conversation's participants are copies of personas (models.Participant). For each message the
person sends, `schedule` says who answers and in what order: the participants addressed with
`@name` first (in the order the text names them), then the others by position, for as many rounds
as asked. The turn engine runs them one after another (chat/turns/lifecycle.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from chat.models import Participant

BUILTIN: list[tuple[str, str]] = [
    ("Assistant", "You are Assistant, a helpful assistant. Use the tools you are given when they help answer. "
                  "Be clear and brief."),
    ("Skeptic", "You are Skeptic. You question claims and assumptions politely, ask what the evidence is, and say "
                "what could go wrong. Keep it short."),
    ("Teacher", "You are Teacher. You explain step by step, with a small example, for someone new to the subject."),
]


@dataclass(frozen=True)
class Speaker:
    """One AI participant as the turn engine needs it; `participant_id` None is the site's default assistant."""

    participant_id: int | None
    name: str
    system_prompt: str
    provider: str = ""
    model: str = ""
    temperature: float | None = None
    tools: tuple[str, ...] | None = None  # None: every tool
    others: tuple[str, ...] = ()  # the other participants' names, in a multi-AI conversation

    @classmethod
    def default(cls) -> Speaker:
        return cls(None, "", settings.CHAT_SYSTEM_PROMPT)

    @classmethod
    def of(cls, participant: Participant, everyone: Sequence[Participant] = ()) -> Speaker:
        return cls(
            participant.pk, participant.name, participant.system_prompt, participant.provider, participant.model,
            participant.temperature, None if participant.tools is None else tuple(participant.tools),
            tuple(p.name for p in everyone if p.pk != participant.pk),
        )

    def allows(self, tool_name: str) -> bool:
        return self.tools is None or tool_name in self.tools

    def instructions(self) -> str:
        """The system prompt; in a multi-AI conversation, with how to read the others' messages."""
        if not self.others:
            return self.system_prompt
        return (
            f"{self.system_prompt}\n\nYou are {self.name} in a conversation with a person and other AI participants: "
            f"{', '.join(self.others)}. Their messages start with their name and a colon. Answer as {self.name} "
            "only, in your own voice; never write for the others."
        )


def schedule(participants: Sequence[Participant], text: str, rounds: int = 1) -> list[Speaker]:
    """Who answers a message, in order: `@name`d participants first, then the others by position, `rounds` times."""
    if not participants:
        return [Speaker.default()]
    order = addressed_first(participants, text)
    speakers = [Speaker.of(p, participants) for p in order]
    return speakers * max(1, rounds)


def addressed_first(participants: Sequence[Participant], text: str) -> list[Participant]:
    by_position = sorted(participants, key=lambda p: p.position)
    mentioned = sorted(
        ((at, p) for p in by_position if (at := _mention(p.name, text)) is not None), key=lambda pair: pair[0]
    )
    first = [p for _, p in mentioned]
    return first + [p for p in by_position if p not in first]


def _mention(name: str, text: str) -> int | None:
    """Where `@name` first appears as a whole name (any case), or None."""
    found = re.search(rf"(?<![\w@])@{re.escape(name)}(?![\w'-])", text, re.IGNORECASE)
    return found.start() if found else None
