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
from tests.support.daphne import Daphne, launch_daphne, offline_site_env, stop_all, wait_until_serving
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


def _launch(tmp_path: Path, *, ping: str = "1", name: str = "daphne", **extra: str) -> Daphne:
    # REDIS_URL as this run has it: its cache holds the socket slots
    return launch_daphne(offline_site_env(**extra), tmp_path, name=name, args=["--ping-interval", ping, "--ping-timeout", "1"])


def _server(tmp_path: Path, **options: str) -> Daphne:
    return wait_until_serving([_launch(tmp_path, **options)])[0]


def read_until_closed(sock: socket.socket, bound: float = 15) -> int:
    """Read what a server sends until it ends the connection; how many bytes that was. The server resets it
    (its close handshake timed out while the client read nothing), so the close frame itself never arrives."""
    sock.settimeout(bound)
    read = 0
    try:
        while chunk := sock.recv(1 << 20):
            read += len(chunk)
    except ConnectionResetError:
        pass
    return read


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
    # The send-buffer bound out of reach: this is about what a dropped socket leaves, not about the bound.
    server = _server(tmp_path, CHAT_REPLAYS_PER_MINUTE="1000", CHAT_SEND_BUFFER_BYTES=str(1 << 40))
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


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads a process's RSS from /proc (Linux)")
async def test_a_replay_waits_for_a_page_that_does_not_read_and_closes_it_after_the_bound(user, tmp_path: Path):
    """chat/backpressure.py: a socket that asks for 20 replays and reads nothing is sent little more than
    CHAT_SEND_BUFFER_BYTES (and what the kernel's buffers took), then closed with 4408 after
    CHAT_SEND_BUFFER_WAIT_SECONDS, long before the ping bound.
    The same attack on a server whose buffer bound is out of reach holds several times as much."""
    waiting, unbounded = wait_until_serving([
        _launch(tmp_path, ping="600", name="waiting", CHAT_REPLAYS_PER_MINUTE="1000",
                CHAT_SEND_BUFFER_BYTES="262144", CHAT_SEND_BUFFER_WAIT_SECONDS="1"),
        _launch(tmp_path, name="unbounded", CHAT_REPLAYS_PER_MINUTE="1000", CHAT_SEND_BUFFER_BYTES=str(1 << 40)),
    ])
    try:
        conversation_id = await big_conversation(user)
        cookie = await session_cookie(user)
        before = _rss_kb(unbounded)
        held_without = await _open_unread_until_dropped(unbounded, cookie, conversation_id, opens=20) - before

        sock = open_without_reading(waiting, cookie)
        try:
            before = _rss_kb(waiting)
            for _ in range(20):
                send_text(sock, json.dumps({"type": "conversation.open", "conversation_id": conversation_id, "last_seq": 0}))
            peak, deadline = before, time.monotonic() + 10
            while "did not read its replay" not in waiting.log_tail():
                assert time.monotonic() < deadline, f"the replay never gave up on the socket:\n{waiting.log_tail()[-2000:]}"
                await asyncio.sleep(0.05)  # allowed-sleep: polling another process's log, bounded by the deadline above
                peak = max(peak, _rss_kb(waiting))
            read = await asyncio.to_thread(read_until_closed, sock)
        finally:
            sock.close()
    finally:
        stop_all([waiting, unbounded])
    assert "Closing a socket (4408) that did not read its replay within 1 s" in waiting.log_tail()
    page = 100 * 5000  # one replay of the conversation: 100 messages of 5,000 characters
    assert read < 3 * page, f"{read} bytes were sent to a page that read nothing"
    assert held_without > 5_000 and peak - before < held_without / 3, (
        f"the waiting server grew by {peak - before} kB, the unbounded one by {held_without} kB"
    )


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
