"""Drive the real application over a WebSocket the way a browser tab does, with bounded waits."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chatsite.asgi import application
from tests.support.login import login

Frame = dict[str, Any]


@database_sync_to_async
def session_cookie(user: Any) -> str:
    """A real session for user, made by Django's login machinery, as a Cookie header value."""
    return login(user).header


def communicator(cookie: str | None, origin: str | None = "http://localhost") -> WebsocketCommunicator:
    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/chat/", headers=headers)


@asynccontextmanager
async def connected(user: Any, origin: str = "http://localhost") -> AsyncIterator[WebsocketCommunicator]:
    """A logged-in socket, disconnected on exit whatever happened."""
    comm = communicator(await session_cookie(user), origin)
    accepted, code = await comm.connect(timeout=5)
    assert accepted, f"the socket of a logged-in user was refused (close code {code})"
    try:
        yield comm
    finally:
        await comm.disconnect()


async def send(comm: WebsocketCommunicator, frame_type: str, **fields: Any) -> None:
    await comm.send_to(text_data=json.dumps({"type": frame_type, **fields}))


async def send_message(
    comm: WebsocketCommunicator, text: str, conversation_id: int | None = None, client_id: str | None = None
) -> str:
    client_id = client_id or uuid.uuid4().hex
    await send(comm, "message.send", text=text, client_id=client_id, conversation_id=conversation_id)
    return client_id


async def receive_frame(
    comm: WebsocketCommunicator,
    frame_type: str,
    *,
    timeout: float = 5,
    where: Callable[[Frame], bool] = lambda frame: True,
    seen: list[Frame] | None = None,
) -> Frame:
    """Receive until a frame of frame_type (matching where) arrives within timeout in total; fail naming what did arrive."""
    seen = [] if seen is None else seen
    start = len(seen)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError
            frame = json.loads(await comm.receive_from(timeout=left))
        except TimeoutError:
            arrived = [_short(f) for f in seen[start:]] or ["nothing"]
            raise AssertionError(
                f"expected a {frame_type!r} frame within {timeout:g} s; arrived instead: {arrived}"
            ) from None
        seen.append(frame)
        if frame.get("type") == frame_type and where(frame):
            return frame


async def receive_turn(
    comm: WebsocketCommunicator, *, timeout: float = 10, seen: list[Frame] | None = None
) -> list[Frame]:
    """Every frame up to and including the turn's one `turn.finished` (never inferred from other frames)."""
    frames: list[Frame] = [] if seen is None else seen
    await receive_frame(comm, "turn.finished", timeout=timeout, seen=frames)
    return frames


async def run_turn(
    comm: WebsocketCommunicator, text: str, conversation_id: int | None = None, timeout: float = 10
) -> list[Frame]:
    """Send one message and return every frame up to and including the turn's `turn.finished`."""
    await send_message(comm, text, conversation_id)
    return await receive_turn(comm, timeout=timeout)


def final_reply(frames: list[Frame]) -> Frame:
    """The last `assistant.completed` of a turn's frames."""
    return of_type(frames, "assistant.completed")[-1]


def of_type(frames: list[Frame], frame_type: str) -> list[Frame]:
    return [frame for frame in frames if frame["type"] == frame_type]


def reply_text(frames: list[Frame], seq: int | None = None) -> str:
    """The text the deltas built, applied by offset exactly as a browser does."""
    text = ""
    for frame in of_type(frames, "assistant.delta"):
        if seq is None or frame["seq"] == seq:
            text = text[: frame["offset"]] + frame["text"]
    return text


def _short(frame: Frame) -> str:
    text = json.dumps(frame)
    return text if len(text) <= 160 else text[:157] + "..."
