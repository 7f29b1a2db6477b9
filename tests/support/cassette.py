"""Record one real provider exchange into a cassette file and replay it under `responses`.

Record (talks to the providers configured by LLM_PROVIDERS / LLM_PROVIDERS_FILE, runs tools on the
MCP hub until the model answers in text):

    .venv/bin/python -m tests.support.cassette record "What is 12*7?" tests/cassettes/calc.json

Replay in a test (registers every recorded response, in order, at the configured provider's URL):

    recorded = replay("tests/cassettes/calc.json", responses_mock, base_url="https://llm.test/v1")
    ... run a turn with recorded.prompt; assert the reply == recorded.reply

Cassette format (JSON, `chatsite-llm-cassette/1`): `prompt`, `reply`, `tools_called`, `base_url`
and `interactions`, each `{"request": {"method", "path", "body"}, "response": {"status",
"content_type", "body"}}` with `path` relative to `base_url` and the SSE body as recorded.
No request headers are stored, so no API key ends up in a cassette. Replay matches each request
on its conversation (the non-system messages), so the tools and prompt may change without
breaking it, but a change in what the model is told fails with a clear mismatch.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import requests
import responses
import urllib3
from requests.adapters import HTTPAdapter

FORMAT = "chatsite-llm-cassette/1"


@dataclass
class Cassette:
    prompt: str
    reply: str
    base_url: str
    tools_called: list[str] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)

    def save(self, path: str | Path) -> None:
        data = {"format": FORMAT, **self.__dict__}
        Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Cassette:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.pop("format", None) != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT} cassette")
        return cls(**data)


# --- recording ----------------------------------------------------------------------------------


@contextmanager
def recording() -> Iterator[list[dict[str, Any]]]:
    """Record every `requests` exchange in this process (each body read whole, then handed on)."""
    interactions: list[dict[str, Any]] = []
    original = HTTPAdapter.send

    def send(adapter: HTTPAdapter, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = original(adapter, request, **kwargs)
        body = response.raw.read(decode_content=True)
        response.close()
        content_type = response.headers.get("Content-Type", "")
        interactions.append({
            "url": request.url,
            "request": {"method": request.method, "body": json.loads(request.body or b"null")},
            "response": {"status": response.status_code, "content_type": content_type,
                         "body": body.decode("utf-8", "replace")},
        })
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(body), headers={"Content-Type": content_type}, status=response.status_code,
            preload_content=False,
        )
        return response

    with mock.patch.object(HTTPAdapter, "send", send):
        yield interactions


async def record_exchange(prompt: str, max_rounds: int = 8) -> Cassette:
    """Ask the configured LLM, run the tools it calls on the hub, until it answers in text."""
    from django.conf import settings

    from chat.llm import get_llm
    from chat.llm.base import ChatMessage, LLMRequest, TextDelta, ToolCall
    from chat.tools import get_hub

    messages = [ChatMessage("system", settings.CHAT_SYSTEM_PROMPT), ChatMessage("user", prompt)]
    tools = [tool.spec for tool in await get_hub().list_tools()]
    called: list[str] = []
    with recording() as interactions:
        for _ in range(max_rounds):
            text, calls = "", []
            async for event in get_llm().stream(LLMRequest(messages, tools)):
                if isinstance(event, TextDelta):
                    text += event.text
                elif isinstance(event, ToolCall):
                    calls.append(event)
            messages.append(ChatMessage("assistant", text, tool_calls=tuple(calls)))
            if not calls:
                break
            for call in calls:
                result = await get_hub().call(call.name, call.arguments)
                called.append(call.name)
                messages.append(ChatMessage("tool", result.text, tool_call_id=call.id, tool_name=call.name,
                                            is_error=result.is_error))
    return _cassette(prompt, text, called, interactions)


async def _record_and_close(prompt: str) -> Cassette:
    from chat.tools import hub

    try:
        return await record_exchange(prompt)
    finally:
        await hub.close_hub()  # MCP sessions belong to this event loop


def _cassette(prompt: str, reply: str, called: list[str], interactions: list[dict[str, Any]]) -> Cassette:
    if not interactions:
        raise RuntimeError("nothing was recorded: is a provider configured (LLM_PROVIDERS)?")
    first = interactions[0]["url"]
    base_url = first.rsplit("/", 2)[0] if first.endswith("/chat/completions") else first.rsplit("/", 1)[0]
    for item in interactions:
        item["request"]["path"] = item.pop("url").removeprefix(base_url)
    return Cassette(prompt, reply, base_url, called, interactions)


# --- replay -------------------------------------------------------------------------------------


def replay(path: str | Path, mock_: responses.RequestsMock, base_url: str | None = None) -> Cassette:
    """Register the cassette's responses, in recorded order, on `mock_` (at base_url if given)."""
    cassette = Cassette.load(path)
    root = (base_url or cassette.base_url).rstrip("/")
    for item in cassette.interactions:
        request, response = item["request"], item["response"]
        mock_.add(
            request["method"], root + request["path"], body=response["body"], status=response["status"],
            content_type=response["content_type"] or "text/event-stream",
            match=[_conversation_matcher(request["body"])],
        )
    return cassette


def _conversation(body: Any) -> list[Any]:
    messages = body.get("messages", []) if isinstance(body, dict) else []
    return [m for m in messages if m.get("role") != "system"]


def _conversation_matcher(recorded: Any) -> Any:
    expected = _conversation(recorded)

    def match(request: requests.PreparedRequest) -> tuple[bool, str]:
        actual = _conversation(json.loads(request.body or b"null"))
        if actual == expected:
            return True, ""
        return False, f"conversation differs from the cassette:\n sent {actual}\n recorded {expected}"

    return match


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="record one exchange with the configured providers")
    rec.add_argument("prompt")
    rec.add_argument("out", type=Path)
    args = parser.parse_args()

    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    cassette = asyncio.run(_record_and_close(args.prompt))
    cassette.save(args.out)
    print(f"recorded {len(cassette.interactions)} exchange(s) to {args.out}: {cassette.reply!r}")


if __name__ == "__main__":
    main()
