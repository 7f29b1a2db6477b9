"""Socket throughput and memory of the site, as ratios against a raw `websockets` server (same run).

Run with `make bench` (or `.venv/bin/python bench/socket_throughput.py`); see bench/README.md.
Numbers are printed, never asserted: absolute figures drift with machine load, ratios measured in
one run do not (much). Everything talks to 127.0.0.1 only; every loop is bounded in count and time;
both servers are child processes of this script and are killed on exit, Ctrl-C included.

Progress goes to stderr; stdout gets the table and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from harness import (
    HOST,
    Children,
    Target,
    close_sockets,
    cpu_seconds,
    log,
    manage,
    on_signal,
    open_sockets,
    readline_with_timeout,
    recv_json,
    rss_kb,
    site_env,
    start_daphne,
)

HARD_LIMIT_SECONDS = 150  # last resort: SIGALRM ends the run (children are still cleaned up)
MAX_PINGS_PER_CONNECTION = 200_000
MAX_TURNS_PER_CONNECTION = 2_000
ECHO_SERVER_LIFETIME = 300  # the baseline server exits by itself after this, whatever happens


def ping_frame(conn: int, n: int) -> str:
    # {"type": "ping", "nonce": "c07-0000001234-xxxxxxxx"} -> about 60 bytes, like the baseline table.
    return json.dumps({"type": "ping", "nonce": f"c{conn:02d}-{n:010d}-bench"})


# --------------------------------------------------------------------------------------------
# The baseline server: raw `websockets`, one asyncio process, parses the JSON and answers the
# same pong frame the site answers.


async def _echo_server_main() -> None:
    from websockets.asyncio.server import serve

    async def handler(ws: Any) -> None:
        async for raw in ws:
            try:
                frame = json.loads(raw)
            except (TypeError, ValueError):
                continue
            await ws.send(json.dumps({"type": "pong", "nonce": frame.get("nonce")}))

    async with serve(handler, HOST, 0, compression=None, ping_interval=None, max_size=64 * 1024) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(ECHO_SERVER_LIFETIME)


def start_echo_server(children: Children) -> tuple[subprocess.Popen, int]:
    proc = children.start(
        [sys.executable, str(Path(__file__).resolve()), "--echo-server"],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    line = readline_with_timeout(proc, 15)
    if not line.strip().isdigit():
        raise RuntimeError(f"baseline server did not start (said {line!r}, exit code {proc.poll()})")
    return proc, int(line)


def start_site(children: Children, tmp: Path) -> tuple[subprocess.Popen, int, Path]:
    # The offline demo model with no pause between words, on a fresh SQLite file.
    env = site_env(DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}", DEMO_TOKEN_DELAY_SECONDS="0")
    manage(["migrate", "--noinput"], env)
    manage(["ensure_demo_user"], env)
    daphne_log = tmp / "daphne.log"
    proc, port = start_daphne(children, "chatsite.asgi:application", env, daphne_log, "/accounts/login/")
    return proc, port, daphne_log


def login(port: int) -> str:
    import requests

    base = f"http://{HOST}:{port}"
    with requests.Session() as session:
        session.trust_env = False  # no proxy, loopback only
        page = session.get(f"{base}/accounts/login/", timeout=10)
        page.raise_for_status()
        token = session.cookies.get("csrftoken")
        if not token:
            match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            token = match.group(1) if match else ""
        answer = session.post(
            f"{base}/accounts/login/",
            data={"username": "demo", "password": "demo-password", "csrfmiddlewaretoken": token, "next": "/"},
            headers={"Referer": f"{base}/accounts/login/"}, timeout=10, allow_redirects=False,
        )
        sessionid = session.cookies.get("sessionid")
        if answer.status_code != 302 or not sessionid:
            raise RuntimeError(f"login failed: HTTP {answer.status_code}, sessionid cookie {'set' if sessionid else 'missing'}")
        return sessionid


# --------------------------------------------------------------------------------------------
# Clients


async def ping_loop(ws: Any, conn: int, deadline: float, max_count: int) -> int:
    n = 0
    while n < max_count and time.perf_counter() < deadline:
        frame = ping_frame(conn, n)
        await ws.send(frame)
        reply = await recv_json(ws)
        if reply.get("type") != "pong" or reply.get("nonce") != json.loads(frame)["nonce"]:
            raise RuntimeError(f"expected the pong for {frame}, got {reply}")
        n += 1
    return n


async def measure_pings(target: Target, connections: int, seconds: float) -> dict[str, float]:
    sockets = await open_sockets(target, connections)
    try:
        warm_until = time.perf_counter() + min(0.5, seconds / 4)
        await asyncio.gather(*(ping_loop(ws, i, warm_until, 100) for i, ws in enumerate(sockets)))
        cpu0, client0, t0 = cpu_seconds(target.pid), time.process_time(), time.perf_counter()
        deadline = t0 + seconds
        counts = await asyncio.gather(
            *(ping_loop(ws, i, deadline, MAX_PINGS_PER_CONNECTION) for i, ws in enumerate(sockets))
        )
        elapsed = time.perf_counter() - t0
        server_cpu, client_cpu = cpu_seconds(target.pid) - cpu0, time.process_time() - client0
    finally:
        await close_sockets(sockets)
    total = sum(counts)
    return {
        "round_trips": total,
        "seconds": round(elapsed, 3),
        "per_second": total / elapsed,
        "server_cpu_us_per_msg": server_cpu / total * 1e6 if total else float("nan"),
        "server_cpu_share": server_cpu / elapsed,
        "client_cpu_share": client_cpu / elapsed,
    }


async def one_turn(ws: Any, client_id: str) -> None:
    """A new conversation with "what is 12*7": returns at the turn's `turn.finished` (its only end)."""
    await ws.send(json.dumps({"type": "message.send", "client_id": client_id, "text": "what is 12*7"}))
    conversation_id = None
    saw_tool = False
    final_text = ""
    for _ in range(10_000):
        frame = await recv_json(ws)
        kind = frame.get("type")
        if kind == "error":
            raise RuntimeError(f"error frame for {client_id}: {frame}")
        if kind == "conversation.created" and frame.get("client_id") == client_id:
            conversation_id = frame["conversation_id"]
        elif kind == "tool.finished" and frame.get("conversation_id") == conversation_id:
            if frame.get("is_error"):
                raise RuntimeError(f"the built-in tool failed: {frame}")
            saw_tool = True
        elif kind == "assistant.completed" and frame.get("conversation_id") == conversation_id:
            final_text = frame.get("text", "")
        elif kind == "turn.finished" and frame.get("conversation_id") == conversation_id:
            if frame.get("status") != "complete" or not saw_tool or "84" not in final_text:
                raise RuntimeError(f"unexpected end of turn (tool seen: {saw_tool}, last reply {final_text!r}): {frame}")
            return
    raise RuntimeError(f"no turn.finished for {client_id} in 10,000 frames")


async def turn_loop(ws: Any, prefix: str, deadline: float, max_count: int) -> int:
    n = 0
    while n < max_count and time.perf_counter() < deadline:
        await one_turn(ws, f"{prefix}-{n}")
        n += 1
    return n


async def measure_turns(target: Target, connections: int, seconds: float) -> dict[str, float]:
    sockets = await open_sockets(target, connections)
    run = uuid.uuid4().hex[:8]
    try:
        cpu0, t0 = cpu_seconds(target.pid), time.perf_counter()
        deadline = t0 + seconds
        counts = await asyncio.gather(
            *(turn_loop(ws, f"b{run}-{connections}-{i}", deadline, MAX_TURNS_PER_CONNECTION) for i, ws in enumerate(sockets))
        )
        elapsed = time.perf_counter() - t0  # includes the turns still running at the deadline
        server_cpu = cpu_seconds(target.pid) - cpu0
    finally:
        await close_sockets(sockets)
    total = sum(counts)
    return {
        "turns": total,
        "seconds": round(elapsed, 3),
        "per_second": total / elapsed,
        "server_cpu_ms_per_turn": server_cpu / total * 1e3 if total else float("nan"),
    }


async def measure_memory(target: Target, count: int) -> dict[str, float]:
    # One socket first, so the first connection's one-off costs are not counted per socket.
    warm = await open_sockets(target, 1)
    await ping_loop(warm[0], 0, time.perf_counter() + 2, 20)
    await close_sockets(warm)
    await asyncio.sleep(0.3)
    idle = rss_kb(target.pid)
    sockets = await open_sockets(target, count)
    try:
        await asyncio.gather(*(ping_loop(ws, i, time.perf_counter() + 5, 1) for i, ws in enumerate(sockets)))
        await asyncio.sleep(0.3)
        loaded = rss_kb(target.pid)
    finally:
        await close_sockets(sockets)
    return {
        "sockets": count,
        "idle_mb": idle / 1024,
        "loaded_mb": loaded / 1024,
        "per_socket_kb": (loaded - idle) / count,
    }


async def run_all(raw: Target, site: Target, seconds: float, turn_seconds: float) -> dict[str, Any]:
    results: dict[str, Any] = {"baseline": {}, "site": {}}
    log("warming up the site (first demo turn starts the built-in tool server)")
    warm = await open_sockets(site, 1)
    try:
        await one_turn(warm[0], f"warm-{uuid.uuid4().hex[:8]}")
    finally:
        await close_sockets(warm)
    for target, key in ((raw, "baseline"), (site, "site")):
        log(f"{target.name}: memory with 50 sockets")
        results[key]["memory"] = await measure_memory(target, 50)
    # Each baseline figure right before its site figure, so load drift hits both alike.
    for connections in (1, 20):
        for target, key in ((raw, "baseline"), (site, "site")):
            log(f"{target.name}: ping round trips over {connections} connection(s), {seconds:g} s")
            results[key][f"ping_{connections}"] = await measure_pings(target, connections, seconds)
    for connections in (1, 5):
        log(f"site: demo-model turns over {connections} connection(s), {turn_seconds:g} s")
        results["site"][f"turns_{connections}"] = await measure_turns(site, connections, turn_seconds)
    return results


# --------------------------------------------------------------------------------------------
# Report


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def report(results: dict[str, Any], seconds: float, turn_seconds: float) -> str:
    base, site = results["baseline"], results["site"]
    rows: list[tuple[str, str, str, str]] = []

    def num(value: float, digits: int = 0) -> str:
        return f"{value:,.{digits}f}"

    for c in (1, 20):
        b, s = base[f"ping_{c}"], site[f"ping_{c}"]
        rows.append((f"ping round trips/s, {c} conn", num(b["per_second"]), num(s["per_second"]),
                     f"{s['per_second'] / b['per_second']:.2f}"))
    for c in (1, 20):
        b, s = base[f"ping_{c}"], site[f"ping_{c}"]
        rows.append((f"server CPU per ping, us ({c} conn)", num(b["server_cpu_us_per_msg"]),
                     num(s["server_cpu_us_per_msg"]), f"{s['server_cpu_us_per_msg'] / b['server_cpu_us_per_msg']:.2f}"))
    bm, sm = base["memory"], site["memory"]
    rows.append(("server RSS idle, MB", num(bm["idle_mb"], 1), num(sm["idle_mb"], 1), f"{sm['idle_mb'] / bm['idle_mb']:.2f}"))
    rows.append((f"server RSS, {sm['sockets']} sockets, MB", num(bm["loaded_mb"], 1), num(sm["loaded_mb"], 1),
                 f"{sm['loaded_mb'] / bm['loaded_mb']:.2f}"))
    per_ratio = f"{sm['per_socket_kb'] / bm['per_socket_kb']:.2f}" if bm["per_socket_kb"] > 0 else "-"
    rows.append(("RSS per open socket, KB", num(bm["per_socket_kb"], 1), num(sm["per_socket_kb"], 1), per_ratio))
    for c in (1, 5):
        s = site[f"turns_{c}"]
        rows.append((f"demo turns/s, {c} conn", "-", num(s["per_second"], 1), "-"))
    for c in (1, 5):
        s = site[f"turns_{c}"]
        rows.append((f"server CPU per turn, ms ({c} conn)", "-", num(s["server_cpu_ms_per_turn"], 1), "-"))
    p1 = site["ping_1"]["per_second"]
    for c in (1, 5):
        s = site[f"turns_{c}"]
        rows.append((f"pings per turn time ({c} conn)", "-", num(p1 / s["per_second"], 1), "-"))

    header = ("metric", "raw websockets", "site (daphne)", "site/raw")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True)))

    lines = [
        f"Socket benchmark: site (daphne + channels) vs raw websockets, loopback, same run "
        f"({seconds:g} s per ping phase, {turn_seconds:g} s per turn phase)",
        line(header),
        line(tuple("-" * w for w in widths)),
        *(line(row) for row in rows),
    ]
    lines.append(
        f"CPU share (1.00 = one core) in the 20-connection phases: raw server "
        f"{base['ping_20']['server_cpu_share']:.2f}, client {base['ping_20']['client_cpu_share']:.2f}; site server "
        f"{site['ping_20']['server_cpu_share']:.2f}, client {site['ping_20']['client_cpu_share']:.2f} "
        f"(a client near 1.00 set the pace, not the server)"
    )
    return "\n".join(lines)


def summary_json(results: dict[str, Any]) -> dict[str, Any]:
    base, site = results["baseline"], results["site"]

    def rounded(d: dict[str, Any]) -> dict[str, Any]:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}

    return {
        "bench": "socket_throughput",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "baseline": {k: rounded(v) for k, v in base.items()},
        "site": {k: rounded(v) for k, v in site.items()},
        "ratios_site_over_baseline": {
            "ping_per_second_1": ratio(site["ping_1"]["per_second"], base["ping_1"]["per_second"]),
            "ping_per_second_20": ratio(site["ping_20"]["per_second"], base["ping_20"]["per_second"]),
            "server_cpu_per_ping_1": ratio(site["ping_1"]["server_cpu_us_per_msg"], base["ping_1"]["server_cpu_us_per_msg"]),
            "server_cpu_per_ping_20": ratio(site["ping_20"]["server_cpu_us_per_msg"], base["ping_20"]["server_cpu_us_per_msg"]),
            "rss_idle": ratio(site["memory"]["idle_mb"], base["memory"]["idle_mb"]),
            "rss_50_sockets": ratio(site["memory"]["loaded_mb"], base["memory"]["loaded_mb"]),
            "rss_per_socket": ratio(site["memory"]["per_socket_kb"], base["memory"]["per_socket_kb"])
            if base["memory"]["per_socket_kb"] > 0 else None,
        },
        "ratios_within_site": {
            "turns_per_second_5_over_1": ratio(site["turns_5"]["per_second"], site["turns_1"]["per_second"]),
            "turn_time_in_pings_1": ratio(site["ping_1"]["per_second"], site["turns_1"]["per_second"]),
        },
    }


# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each ping phase (default 3)")
    parser.add_argument("--turn-seconds", type=float, default=4.0, help="length of each turn phase (default 4)")
    parser.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_echo_server_main())
        return 0
    if not 0.5 <= args.seconds <= 20 or not 0.5 <= args.turn_seconds <= 20:
        parser.error("--seconds and --turn-seconds must be between 0.5 and 20")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(HARD_LIMIT_SECONDS)
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="chatsite-bench-"))
    daphne_log: Path | None = None
    started = time.monotonic()
    try:
        log("starting the baseline server (raw websockets)")
        raw_proc, raw_port = start_echo_server(children)
        log(f"migrating a fresh SQLite database in {tmp} and starting daphne")
        site_proc, site_port, daphne_log = start_site(children, tmp)
        sessionid = login(site_port)
        raw = Target("raw websockets", f"ws://{HOST}:{raw_port}/", raw_proc.pid)
        site = Target(
            "site", f"ws://{HOST}:{site_port}/ws/chat/", site_proc.pid,
            {"Origin": f"http://{HOST}:{site_port}", "Cookie": f"sessionid={sessionid}"},
        )
        results = asyncio.run(asyncio.wait_for(run_all(raw, site, args.seconds, args.turn_seconds), 120))
        if site_proc.poll() is not None:
            raise RuntimeError("daphne died during the run")
        print(report(results, args.seconds, args.turn_seconds))
        print(json.dumps(summary_json(results), separators=(",", ":")))
        log(f"done in {time.monotonic() - started:.1f} s")
        return 0
    except KeyboardInterrupt as exc:
        log(f"interrupted ({exc or 'Ctrl-C'}); stopping the servers")
        return 130
    except Exception as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        if daphne_log is not None and daphne_log.exists():
            log("last lines of the daphne log:\n" + "\n".join(daphne_log.read_text().splitlines()[-30:]))
        return 1
    finally:
        signal.alarm(0)
        children.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
