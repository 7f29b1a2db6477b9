"""SIGTERM on a real daphne: running replies are stored as stopped and the process exits promptly,
even with a stdio MCP session open (its idle worker threads used to keep daphne alive ~10 s)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.daphne import offline_site_env, start_daphne
from tests.support.live_socket import live_socket, receive, send_message
from tests.support.mcp_servers import stdio_config
from tests.support.socket import reply_text, session_cookie
from tests.support.stored import stored

pytestmark = pytest.mark.django_db(transaction=True)


async def test_sigterm_stores_the_running_reply_as_stopped_and_exits_within_its_bound(user, tmp_path: Path):
    servers_file = tmp_path / "mcp.json"
    servers_file.write_text(json.dumps({"mcpServers": {"testing": stdio_config("testing", "probe")}}))
    env = offline_site_env(MCP_SERVERS_FILE=str(servers_file), DEMO_TOKEN_DELAY_SECONDS="0.3", CHAT_SHUTDOWN_SECONDS="2")
    server = start_daphne(env, tmp_path)
    try:
        cookie = await session_cookie(user)
        async with live_socket(server.ws_url, cookie) as ws:
            seen: list[dict[str, Any]] = []
            await send_message(ws, "tell me something slowly")
            await receive(ws, "assistant.delta", seen=seen)  # the turn has listed tools: the stdio session is open
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            returncode = server.process.wait(timeout=15)
            exited_after = time.monotonic() - signalled
    finally:
        server.stop(grace=1)
    log = server.log_tail()

    # CHAT_SHUTDOWN_SECONDS (2) for the turns, 1 s for MCP sessions, and room for a loaded machine (it
    # exits in about 1 s alone); what fails is a hang, like the ~10 s idle stdio worker threads once caused.
    assert returncode == 0 and exited_after < 7, f"exit {returncode} after {exited_after:.1f} s\n{log[-2000:]}"
    rows = await stored(seen[0]["conversation_id"])
    assert [(m.role, m.status) for m in rows] == [("user", "complete"), ("assistant", "stopped")], log[-2000:]
    assert rows[1].content.startswith(reply_text(seen)[:10]) and rows[1].content


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
async def test_a_server_that_calculated_exits_and_leaves_no_calculator_worker_behind(
    user, tmp_path: Path, signal_number: int
):
    """The calculator runs in a pool of worker processes (chat/offloop.py) that wait for work forever.
    multiprocessing's exit handler joined them, so a daphne that had calculated never exited on SIGTERM;
    and a daphne killed outright left them behind as orphans. A worker also starts without daphne's server
    code: under the `daphne` script it re-ran it, Twisted and zope.interface included, before its first call."""
    env = offline_site_env(CHAT_SHUTDOWN_SECONDS="2")
    server = start_daphne(env, tmp_path)
    try:
        cookie = await session_cookie(user)
        async with live_socket(server.ws_url, cookie) as ws:
            seen: list[dict[str, Any]] = []
            await send_message(ws, "what is 12*7")
            await receive(ws, "turn.finished", seen=seen)
        workers = _children(server.process.pid)
        with_server_code = [pid for pid in workers if _maps_zope_interface(pid)]
        signalled = time.monotonic()
        server.process.send_signal(signal_number)
        try:
            returncode = server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            returncode = None
        exited_after = time.monotonic() - signalled
        deadline = time.monotonic() + 5
        while [pid for pid in workers if _alive(pid)]:
            if time.monotonic() > deadline:
                break  # the assertion below names them
            await asyncio.sleep(0.05)  # allowed-sleep: polling other processes' exit, bounded by the deadline above
    finally:
        server.stop(grace=1)
    assert any(f.get("type") == "tool.finished" for f in seen), "the demo model did not use the calculator"
    assert workers, "no calculator worker process was started"
    assert with_server_code == [], "a calculator worker loaded daphne's server code (Twisted's zope.interface)"
    expected = 0 if signal_number == signal.SIGTERM else -signal.SIGKILL
    assert returncode == expected and exited_after < 7, f"exit {returncode} after {exited_after:.1f} s\n{server.log_tail()[-2000:]}"
    assert [pid for pid in workers if _alive(pid)] == [], "calculator workers outlived the server"


def _maps_zope_interface(pid: int) -> bool:
    """Whether the process has zope.interface's C extension loaded, which Twisted imports: daphne's server code."""
    return "zope" in Path(f"/proc/{pid}/maps").read_text()


def _children(pid: int) -> list[int]:
    """The pool's worker processes (multiprocessing's spawn_main), not its resource tracker."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    children = [int(child) for child in path.read_text().split()] if path.exists() else []
    return [child for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
