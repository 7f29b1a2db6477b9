"""A client that stops reading cannot make the server hold its replies forever: daphne pings an idle
socket and drops it when no pong comes (--ping-interval + --ping-timeout, 20 + 30 s by default), and
replays are bounded per page and per person (CHAT_REPLAY_MAX_CHARS, CHAT_REPLAYS_PER_MINUTE)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat import services
from chat.models import Message
from tests.support.daphne import Daphne, offline_site_env, start_daphne
from tests.support.socket import connected, receive_frame, send, session_cookie
from tests.support.stored import store_line

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def big_conversation(user: Any) -> int:
    conversation = services.conversation_create(owner=user, first_text="big")
    store_line(conversation, [
        Message(conversation=conversation, seq=n, role="user" if n % 2 else "assistant", content="x" * 5000)
        for n in range(1, 101)
    ])
    return conversation.pk


def open_without_reading(server: Daphne, cookie: str) -> socket.socket:
    """A raw WebSocket client: the handshake, then frames sent and nothing ever read again."""
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's sends back up
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (f"GET /ws/chat/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {server.url}\r\nCookie: {cookie}\r\n\r\n").encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return sock


def send_text(sock: socket.socket, text: str) -> None:
    payload, mask = text.encode(), os.urandom(4)
    header = bytes([0x81]) + (bytes([0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | 126]) + struct.pack(">H", len(payload)))
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def _server(tmp_path: Path, **extra: str) -> Daphne:
    # REDIS_URL as this run has it: its cache holds the socket slots
    return start_daphne(offline_site_env(**extra), tmp_path, args=["--ping-interval", "1", "--ping-timeout", "1"])


def _rss_kb(server: Daphne) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


async def _open_unread_until_dropped(server: Daphne, cookie: str, conversation_id: int, opens: int) -> int:
    """A socket asks for `opens` replays, reads none, and is dropped by the ping bound; the server's peak RSS in kB."""
    sock = open_without_reading(server, cookie)
    port = sock.getsockname()[1]
    try:
        for _ in range(opens):
            send_text(sock, json.dumps({"type": "conversation.open", "conversation_id": conversation_id, "last_seq": 0}))
        deadline = time.monotonic() + 15
        gone = f"127.0.0.1:{port} - - "
        peak = _rss_kb(server)
        while not any(gone in line and "WSDISCONNECT" in line for line in server.log_tail().splitlines()):
            assert time.monotonic() < deadline, f"the non-reading socket is still open:\n{server.log_tail()[-2000:]}"
            await asyncio.sleep(0.1)  # allowed-sleep: polling another process's log, bounded by the deadline above
            peak = max(peak, _rss_kb(server))
        return peak
    finally:
        sock.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads a process's RSS from /proc (Linux)")
async def test_a_socket_that_stops_reading_is_dropped_after_the_ping_bound_and_its_memory_returns(user, tmp_path: Path):
    """Each attack is a socket that asks for 20 replays and never reads: daphne's ping bound must drop it
    (the helper fails otherwise). Each makes the server hold 15-25 MB of replies the client never reads. If a
    dropped socket's buffers were kept (they were, until a rare full garbage collection:
    chatsite/daphne_options.py), four more attacks would grow the server by four times that; they must reuse
    what the first one freed. The allocator does not always give freed memory back to the system and reuses it
    unevenly (0.3-7 MB of growth over the later attacks, seen under load), so the bound is what one attack
    holds, a quarter of what the leak costs."""
    server = _server(tmp_path, CHAT_REPLAYS_PER_MINUTE="1000")
    try:
        conversation_id = await big_conversation(user)
        cookie = await session_cookie(user)
        before = _rss_kb(server)
        peak = await _open_unread_until_dropped(server, cookie, conversation_id, opens=20)
        after_first = _rss_kb(server)
        held = peak - before
        assert held > 5_000, f"the attack did not make the server hold its replies ({before} -> {peak} kB):\n{server.log_tail()[-3000:]}"
        for _ in range(4):
            await _open_unread_until_dropped(server, cookie, conversation_id, opens=20)
        after_fifth = _rss_kb(server)
        assert after_fifth - after_first < held, (
            f"the server kept what dropped sockets held: {after_first} kB after one attack (which held {held} kB), "
            f"{after_fifth} kB after five"
        )
    finally:
        server.stop()


async def test_replays_are_limited_per_person(user, settings):
    settings.CHAT_REPLAYS_PER_MINUTE = 3
    conversation_id = await big_conversation(user)
    async with connected(user) as comm:
        for _ in range(3):
            await send(comm, "conversation.open", conversation_id=conversation_id, last_seq=100)
            await receive_frame(comm, "conversation.opened")
        await send(comm, "conversation.open", conversation_id=conversation_id, last_seq=100)
        refused = await receive_frame(comm, "error")
    assert refused["code"] == "rate_limited" and 0 < refused["retry_after"] <= 60
