"""The relay benchmark's baseline: a bare channels consumer that streams the fake LLM to the socket.

No database, no channel layer, no turn engine: on `message.send` it opens the provider stream
through the site's own HTTP client path (chat.llm's OpenAI-compatible provider: requests in a
worker thread, the SSE parser, the chunk decoder) and sends each text delta to the socket as it
arrives, in the frames the site uses (`assistant.delta` with an offset, then `turn.finished`).
It answers `ping` too. Served by daphne, started by bench/relay.py with RELAY_BASELINE_LLM_URL.

    RELAY_BASELINE_LLM_URL=http://127.0.0.1:8001/v1 daphne bench.relay_baseline_asgi:application
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from typing import Any

import django
from django.conf import settings

if not settings.configured:
    settings.configure(DATABASES={}, CHANNEL_LAYERS={}, USE_TZ=True)
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402  (needs settings first)
from channels.routing import ProtocolTypeRouter  # noqa: E402

from chat.llm.base import ChatMessage, LLMRequest, TextDelta  # noqa: E402
from chat.llm.config import ProviderConfig  # noqa: E402
from chat.llm.openai_compat import OpenAICompatProvider  # noqa: E402

PROVIDER = OpenAICompatProvider(ProviderConfig(
    name="fake", family="openai", base_url=os.environ["RELAY_BASELINE_LLM_URL"], model="fake-model",
))
_conversation_ids = itertools.count(1)
REPLY_SEQ = 2  # as in the site: the person's message is seq 1, the reply seq 2


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.relays: set[asyncio.Task[None]] = set()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for task in self.relays:
            task.cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = json.loads(text_data or "{}")
        if frame.get("type") == "ping":
            await self._send({"type": "pong", "nonce": frame.get("nonce")})
        elif frame.get("type") == "message.send":
            task = asyncio.create_task(self._relay(frame["client_id"], frame["text"]))
            self.relays.add(task)
            task.add_done_callback(self.relays.discard)

    async def _relay(self, client_id: str, text: str) -> None:
        conversation_id = next(_conversation_ids)
        await self._send({"type": "conversation.created", "conversation_id": conversation_id, "title": "", "client_id": client_id})
        offset, status, error = 0, "complete", ""
        try:
            async for event in PROVIDER.stream(LLMRequest([ChatMessage(role="user", content=text)])):
                if isinstance(event, TextDelta) and event.text:
                    await self._send({
                        "type": "assistant.delta", "conversation_id": conversation_id, "seq": REPLY_SEQ,
                        "offset": offset, "text": event.text,
                    })
                    offset += len(event.text)
        except Exception as exc:  # a relay that fails says so in its last frame, as the site does
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        await self._send({
            "type": "turn.finished", "conversation_id": conversation_id, "seq": REPLY_SEQ, "status": status, "error": error,
        })

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame))


application = ProtocolTypeRouter({"websocket": RelayConsumer.as_asgi()})
