"""A browser-like WebSocket client for a live server (tests/support/daphne.py), with bounded waits.

The communicator helpers in tests/support/socket.py drive the application in this process; these
drive a real daphne over TCP, as a browser tab does: the session cookie, an Origin, no pings.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

Frame = dict[str, Any]


@asynccontextmanager
async def live_socket(ws_url: str, cookie: str) -> AsyncIterator[ClientConnection]:
    origin = ws_url.replace("ws://", "http://").split("/ws/")[0]
    async with connect(
        ws_url, origin=origin, additional_headers={"Cookie": cookie}, ping_interval=None,  # type: ignore[arg-type]
        compression=None, open_timeout=10, close_timeout=2,
    ) as ws:
        yield ws


async def send(ws: ClientConnection, frame_type: str, **fields: Any) -> None:
    await ws.send(json.dumps({"type": frame_type, **fields}))


async def send_message(ws: ClientConnection, text: str, conversation_id: int | None = None,
                       client_id: str | None = None) -> str:
    client_id = client_id or uuid.uuid4().hex
    await send(ws, "message.send", text=text, client_id=client_id, conversation_id=conversation_id)
    return client_id


async def receive(ws: ClientConnection, frame_type: str, *, timeout: float = 10, seen: list[Frame] | None = None,
                  where: Any = None) -> Frame:
    """Receive until a frame of frame_type (matching where) arrives, within timeout in total."""
    seen = [] if seen is None else seen
    start = len(seen)
    try:
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await ws.recv())
                seen.append(frame)
                if frame.get("type") == frame_type and (where is None or where(frame)):
                    return frame
    except TimeoutError:
        arrived = [f.get("type") for f in seen[start:]] or ["nothing"]
        raise AssertionError(f"expected a {frame_type!r} frame within {timeout:g} s; arrived instead: {arrived}") from None
