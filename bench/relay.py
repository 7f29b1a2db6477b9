"""Relay load: N concurrent streamed replies through the site, as ratios against a bare channels relay.

Run with `make bench-relay` (or `.venv/bin/python bench/relay.py [--quick]`); see bench/README.md.
The scripted fake LLM server sends each reply as numbered tokens at a fixed rate, each stamped
with its send time; the client rebuilds every reply from its deltas as the browser does and
reads delay, loss, doubling and order back out of the text. Loopback only; every wait is
bounded, the whole run too (SIGALRM); every server is a child process that dies with the script.

Progress goes to stderr; stdout gets the tables and, as its last line, one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    HOST,
    ROOT,
    Children,
    Daphne,
    close_sockets,
    cpu_by_name,
    cpu_seconds,
    launch_daphne,
    log,
    on_signal,
    open_many,
    prepare_database,
    readline_with_timeout,
    site_env,
    wait_ready,
)

sys.path.insert(0, str(ROOT))  # tests.support: the fake server's token format and request text
from scripts.services_up import answers  # noqa: E402
from tests.support.fake_llm_server import STAMP_WIDTH, parse_stamp, parse_stamps, stamped_request  # noqa: E402

HARD_LIMIT_SECONDS = 390  # last resort: SIGALRM ends the run (children are still cleaned up)
FULL_COUNTS = (10, 50, 100, 200)
QUICK_COUNTS = (10, 50)
INSTANT_TOKENS = 20  # the replies of the first-delta latency phase, sent with no pause
LATENCY_REPLIES = 15
LATENCY_PINGS = 40
WRITE_PROBES = 20  # committed one-row UPDATEs timed for "one database write"
MAX_FRAMES_PER_REPLY = 100_000
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
PG_URL = "postgres://postgres@127.0.0.1:5432/{name}"
REDIS_URL = "redis://127.0.0.1:6379/12"
SETUP_KEYS = ("baseline", "sqlite", "pg1", "pg2")
SERVICES = {"postgres", "redis-server"}  # their CPU is shown too: the site's load lands there as well

# --------------------------------------------------------------------------------------------
# Server setups


@dataclass
class Setup:
    key: str
    label: str
    daphnes: list[Daphne] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)  # one per user; empty for the baseline
    path: str = "/ws/chat/"
    pg: PgStats | None = None
    idle_since: float = 0.0  # monotonic time its servers last finished work
    pending: tuple[dict[str, Any], tuple[int, int], int] | None = None  # round figures awaiting the counters
    stopped: str = ""  # why no more rounds run on it
    write_probe: Callable[[], float] | None = None  # ms of one database write, p50

    def socket_targets(self, count: int) -> list[tuple[str, dict[str, str]]]:
        """Socket i goes to process i mod P, as user i (one user per socket)."""
        targets = []
        for i in range(count):
            port = self.daphnes[i % len(self.daphnes)].port
            headers = {"Origin": f"http://{HOST}:{port}"}
            if self.sessions:
                headers["Cookie"] = f"sessionid={self.sessions[i % len(self.sessions)]}"
            targets.append((f"ws://{HOST}:{port}{self.path}", headers))
        return targets

    @property
    def procs(self) -> list[subprocess.Popen]:
        return [d.proc for d in self.daphnes]

    @property
    def pids(self) -> list[int]:
        return [d.proc.pid for d in self.daphnes]


class PgStats:
    """Writes to chat_message and sessions opened in one setup's database, from PostgreSQL's statistics."""

    # A backend flushes its counters when it goes idle, but one that flushed less than 1 s before
    # holds them until it has been idle 10 s (PGSTAT_MIN_INTERVAL, PGSTAT_IDLE_INTERVAL in PG 15).
    IDLE_FLUSH_SECONDS = 10.5

    def __init__(self, dsn: str, database: str) -> None:
        import psycopg

        self.database = database
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.conn.execute("SET stats_fetch_consistency = none")

    def read(self) -> tuple[int, int]:
        """(n_tup_ins + n_tup_upd of chat_message, pg_stat_database.sessions) as flushed so far."""
        self.conn.execute("SELECT pg_stat_force_next_flush()")
        row = self.conn.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd), 0) FROM pg_stat_user_tables WHERE relname = 'chat_message'"
        ).fetchone()
        sessions = self.conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", (self.database,)
        ).fetchone()
        return int(row[0]), int(sessions[0])

    async def read_when_flushed(self, idle_since: float, servers_gone: bool) -> tuple[int, int]:
        """The counters once every backend of the setup has flushed: idle long enough, or exited."""
        wait = idle_since + (1.0 if servers_gone else self.IDLE_FLUSH_SECONDS) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)  # allowed-sleep: bounded by IDLE_FLUSH_SECONDS
        return self.read()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


def pg_write_ms(dsn: str, writes: int = WRITE_PROBES) -> float:
    """p50 of one committed UPDATE over a kept connection, in a table of the bench's own."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_relay_write (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO bench_relay_write VALUES (1, '') ON CONFLICT DO NOTHING")
        times = []
        for n in range(writes):
            t0 = time.perf_counter()
            conn.execute("UPDATE bench_relay_write SET body = %s WHERE id = 1", (str(n),))
            times.append(time.perf_counter() - t0)
    return percentile(times, 0.5) * 1e3


def sqlite_write_ms(path: Path, writes: int = WRITE_PROBES) -> float:
    """The same against a SQLite file in WAL mode beside the site's, as the site opens it."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None, timeout=20)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_relay_write (id integer PRIMARY KEY, body text)")
        conn.execute("INSERT OR IGNORE INTO bench_relay_write VALUES (1, '')")
        times = []
        for n in range(writes):
            t0 = time.perf_counter()
            conn.execute("UPDATE bench_relay_write SET body = ? WHERE id = 1", (str(n),))
            times.append(time.perf_counter() - t0)
    finally:
        conn.close()
    return percentile(times, 0.5) * 1e3


def start_fake_llm(children: Children) -> tuple[subprocess.Popen, str]:
    proc = children.start(
        [sys.executable, "-m", "tests.support.fake_llm_server", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    line = readline_with_timeout(proc, 15)
    if "http://" not in line:
        raise RuntimeError(f"fake LLM server did not start (said {line!r}, exit code {proc.poll()})")
    return proc, line.split()[3]  # "fake LLM at http://127.0.0.1:PORT/v1 (family openai); ..."


def start_baseline(children: Children, tmp: Path, llm_url: str) -> Setup:
    env = site_env(RELAY_BASELINE_LLM_URL=llm_url)
    daphne = launch_daphne(children, "bench.relay_baseline_asgi:application", env, tmp / "baseline.log")
    return Setup("baseline", "bare relay, 1 proc", [daphne], path="/")


def site_env_for(llm_url: str, **extra: str) -> dict[str, str]:
    providers = [{"name": "fake", "family": "openai", "base_url": llm_url, "model": "fake-model"}]
    return site_env(LLM_PROVIDERS=json.dumps(providers), **extra)


def start_sites(
    children: Children, tmp: Path, llm_url: str, keys: list[str], users: int, databases: list[str]
) -> tuple[list[Setup], list[str]]:
    """The site setups that can run here, and notes saying which were skipped and why.

    Each PostgreSQL database is added to `databases` as soon as it exists, for the caller to drop.
    """
    setups: list[Setup] = []
    notes: list[str] = []
    if "sqlite" in keys:
        env = site_env_for(llm_url, DATABASE_URL=f"sqlite:///{tmp / 'relay.sqlite3'}")
        log("SQLite: migrating, creating users, starting daphne")
        sessions = prepare_database(env, users)
        daphne = launch_daphne(children, "chatsite.asgi:application", env, tmp / "sqlite.log", "/accounts/login/")
        setups.append(Setup("sqlite", "SQLite + in-memory, 1 proc", [daphne], sessions,
                            write_probe=lambda: sqlite_write_ms(tmp / "write-probe.sqlite3")))
    pg_keys = [k for k in keys if k in ("pg1", "pg2")]
    if not pg_keys:
        return setups, notes
    if not answers("postgres://127.0.0.1:5432") or not answers(REDIS_URL):
        notes.append("PostgreSQL + Redis setups SKIPPED: PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) does not answer")
        return setups, notes
    import psycopg

    # A database per setup, so one setup's late-flushed counters never land in another's round;
    # the second is a copy of the first (same users and sessions), made before anyone connects.
    names = [f"bench_relay_{os.getpid()}_{key}" for key in pg_keys]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{names[0]}"')
        databases.append(names[0])
        log(f"PostgreSQL: database {names[0]}, migrating, creating users")
        sessions = prepare_database(site_env_for(llm_url, DATABASE_URL=PG_URL.format(name=names[0])), users)
        for name in names[1:]:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{names[0]}"')
            databases.append(name)
    for key, database in zip(pg_keys, names, strict=True):
        processes = 2 if key == "pg2" else 1
        url = PG_URL.format(name=database)
        env = site_env_for(llm_url, DATABASE_URL=url, REDIS_URL=REDIS_URL, CHANNELS_PREFIX=f"benchrelay{os.getpid()}{key}")
        setup = Setup(
            key, f"PostgreSQL + Redis, {processes} proc{'s' if processes > 1 else ''}", sessions=sessions,
            pg=PgStats(url, database), write_probe=lambda url=url: pg_write_ms(url),
        )
        log(f"{setup.label}: starting daphne")
        setup.daphnes = [
            launch_daphne(children, "chatsite.asgi:application", env, tmp / f"{key}-{n}.log", "/accounts/login/")
            for n in range(processes)
        ]
        setups.append(setup)
    return setups, notes


def drop_pg(database: str) -> None:
    import psycopg

    with contextlib.suppress(Exception), psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def clean_redis() -> None:
    import redis

    with contextlib.suppress(Exception):
        client = redis.Redis.from_url(REDIS_URL, socket_timeout=3)
        keys = list(client.scan_iter(match=f"benchrelay{os.getpid()}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start:start + 500])


# --------------------------------------------------------------------------------------------
# One reply, as a browser tab sees it


@dataclass
class ReplyResult:
    client_id: str
    expected: int
    conversation_id: int | None = None
    sent_perf: float = 0.0
    first_delta_perf: float | None = None
    frames: int = 0
    content: dict[int, str] = field(default_factory=dict)  # seq -> text rebuilt from deltas by offset
    first_seen: dict[int, tuple[float, float]] = field(default_factory=dict)  # index -> (received, sent)
    status: str = ""  # from turn.finished; "" when it never came
    error: str = ""

    def text(self) -> str:
        return "".join(self.content[seq] for seq in sorted(self.content))


def apply_delta(result: ReplyResult, frame: dict[str, Any], received: float) -> None:
    """content = content[:offset] + text, then note when each whole token first appeared."""
    seq, offset = frame["seq"], frame["offset"]
    content = result.content.get(seq, "")[:offset] + frame["text"]
    result.content[seq] = content
    for k in range(offset // STAMP_WIDTH, len(content) // STAMP_WIDTH):
        stamp = parse_stamp(content[k * STAMP_WIDTH:(k + 1) * STAMP_WIDTH])
        if stamp is not None and stamp[0] not in result.first_seen:
            result.first_seen[stamp[0]] = (received, stamp[1])


async def one_reply(ws: Any, client_id: str, count: int, rate: float, deadline: float) -> ReplyResult:
    """Send one message in a new conversation; read until its turn.finished or the deadline (monotonic)."""
    from websockets.exceptions import ConnectionClosed

    result = ReplyResult(client_id, count)
    result.sent_perf = time.perf_counter()
    await ws.send(json.dumps({"type": "message.send", "client_id": client_id, "text": stamped_request(count, rate)}))
    for _ in range(MAX_FRAMES_PER_REPLY):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            async with asyncio.timeout(remaining):
                raw = await ws.recv()
        except TimeoutError:
            break
        except ConnectionClosed as exc:
            result.error = f"socket closed: {exc}"
            break
        received = time.time()
        frame = json.loads(raw)
        kind = frame.get("type")
        if kind == "error":
            result.error = f"error frame: {frame.get('code')}: {frame.get('message')}"
            break
        if kind in ("conversation.created", "message.created") and frame.get("client_id") == client_id:
            result.conversation_id = frame["conversation_id"]
        elif result.conversation_id is None or frame.get("conversation_id") != result.conversation_id:
            continue
        elif kind == "assistant.delta":
            if result.first_delta_perf is None:
                result.first_delta_perf = time.perf_counter()
            result.frames += 1
            apply_delta(result, frame, received)
        elif kind == "turn.finished":
            result.status, result.error = frame.get("status", "?"), frame.get("error", "")
            break
    return result


# --------------------------------------------------------------------------------------------
# Phases


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


async def warm_up(setup: Setup, run: str) -> None:
    """Two instant replies per process: pools, the built-in tool server, first-use imports."""
    sockets = await open_many(setup.socket_targets(2 * len(setup.daphnes)))
    try:
        deadline = time.monotonic() + 30
        results = await asyncio.gather(*(
            one_reply(ws, f"{run}-warm-{setup.key}-{i}", INSTANT_TOKENS, 0, deadline) for i, ws in enumerate(sockets)
        ))
    finally:
        await close_sockets(sockets)
    bad = [r for r in results if r.status != "complete"]
    if bad:
        raise RuntimeError(f"{setup.label}: warm-up reply did not finish complete: status {bad[0].status!r} {bad[0].error}")


async def measure_latency(setup: Setup, run: str) -> dict[str, Any]:
    """Ping round trip p50, then message.send -> first assistant.delta p50 with an instant reply."""
    (ws,) = await open_many(setup.socket_targets(1))
    try:
        pings = []
        for n in range(LATENCY_PINGS):
            nonce = f"{run}-{n}"
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "ping", "nonce": nonce}))
            for _ in range(100):
                async with asyncio.timeout(10):
                    frame = json.loads(await ws.recv())
                if frame.get("type") == "pong" and frame.get("nonce") == nonce:
                    break
            pings.append(time.perf_counter() - t0)
        firsts = []
        for n in range(LATENCY_REPLIES):
            result = await one_reply(ws, f"{run}-lat-{setup.key}-{n}", INSTANT_TOKENS, 0, time.monotonic() + 15)
            if result.status != "complete" or result.first_delta_perf is None:
                raise RuntimeError(f"{setup.label}: latency reply ended {result.status!r} {result.error}")
            firsts.append(result.first_delta_perf - result.sent_perf)
    finally:
        await close_sockets([ws])
    return {
        "ping_p50_ms": percentile(pings, 0.5) * 1e3,
        "db_write_p50_ms": setup.write_probe() if setup.write_probe else float("nan"),
        "first_delta_p50_ms": percentile(firsts, 0.5) * 1e3,
        "first_delta_p99_ms": percentile(firsts, 0.99) * 1e3,
    }


async def measure_round(
    setup: Setup, count: int, tokens: int, rate: float, bound: float, run: str, fake_pid: int
) -> dict[str, Any]:
    """`count` sockets each ask for one stamped reply at once; wait for every turn.finished (bounded)."""
    sockets = await open_many(setup.socket_targets(count))
    try:
        before_db = await pg_checkpoint(setup)
        cpu0 = [cpu_seconds(pid) for pid in setup.pids]
        services0 = cpu_by_name(SERVICES)
        fake0, client0, t0 = cpu_seconds(fake_pid), time.process_time(), time.perf_counter()
        deadline = time.monotonic() + bound
        results = await asyncio.gather(*(
            one_reply(ws, f"{run}-{setup.key}-{count}-{i}", tokens, rate, deadline) for i, ws in enumerate(sockets)
        ))
        elapsed = time.perf_counter() - t0
        server_cpu = sum(cpu_seconds(pid) for pid in setup.pids) - sum(cpu0)
        fake_cpu, client_cpu = cpu_seconds(fake_pid) - fake0, time.process_time() - client0
        services1 = cpu_by_name(SERVICES)  # a backend that exited in between is missed
        services_cpu = sum(cpu - services0.get(pid, 0.0) for pid, cpu in services1.items())
    finally:
        await close_sockets(sockets)
    figures = analyse(results, tokens, rate)
    figures.update({
        "replies": count,
        "seconds": elapsed,
        "nominal_tok_per_s": count * rate,
        "server_cpu_share": server_cpu / elapsed,
        "fake_llm_cpu_share": fake_cpu / elapsed,
        "client_cpu_share": client_cpu / elapsed,
        "pg_redis_cpu_share": services_cpu / elapsed,
        "server_cpu_us_per_token": server_cpu / figures["tokens_delivered"] * 1e6 if figures["tokens_delivered"] else float("nan"),
    })
    setup.idle_since = time.monotonic()
    if before_db is not None:
        setup.pending = (figures, before_db, count)  # closed by the setup's next checkpoint
    return figures


async def pg_checkpoint(setup: Setup) -> tuple[int, int] | None:
    """The setup's counters once flushed; they also close its previous round's figures."""
    if setup.pg is None:
        return None
    gone = all(proc.poll() is not None for proc in setup.procs)
    reading = await setup.pg.read_when_flushed(setup.idle_since, gone)
    if setup.pending is not None:
        figures, before, count = setup.pending
        figures["db_writes_per_reply"] = (reading[0] - before[0]) / count
        figures["connections_per_reply"] = (reading[1] - before[1]) / count
        setup.pending = None
    return reading


def offered_span(results: list[ReplyResult], tokens: int, rate: float) -> tuple[int, float]:
    """(replies seen, seconds from the first token sent to the last one sent or due).

    A reply's start is read from any token that arrived (sent time - index / rate); a reply cut
    off by the bound ends when its last token was due. Only received stamps say when tokens went
    out, so this keeps offered tok/s right when the site falls behind.
    """
    starts, ends = [], []
    for r in results:
        if not r.first_seen:
            continue
        start = min(at - index / rate for index, (_, at) in r.first_seen.items())
        last = r.first_seen.get(tokens - 1)
        starts.append(start)
        ends.append(last[1] if last else start + (tokens - 1) / rate)
    return len(starts), (max(ends) - min(starts)) if starts else float("nan")


def analyse(results: list[ReplyResult], tokens: int, rate: float) -> dict[str, Any]:
    """Delay from each token's first appearance; loss, doubling and order from the final text."""
    delays: list[float] = []
    sent: list[float] = []
    received: list[float] = []
    lost = doubled = reordered = garbled = not_arrived = unfinished = 0
    statuses: dict[str, int] = {}
    errors: list[str] = []
    for r in results:
        for got, at in r.first_seen.values():
            delays.append(got - at)
            sent.append(at)
            received.append(got)
        text = r.text()
        indices = [index for index, _ in parse_stamps(text)]
        present = {i for i in indices if 0 <= i < tokens}
        doubled += len(indices) - len(set(indices))
        reordered += sum(1 for a, b in zip(indices, indices[1:], strict=False) if b < a)
        garbled += len(text) - STAMP_WIDTH * len(indices)
        if r.status:
            statuses[r.status] = statuses.get(r.status, 0) + 1
            lost += tokens - len(present)
        else:
            unfinished += 1
            not_arrived += tokens - len(present)
        if r.error and len(errors) < 3:
            errors.append(r.error)
    streams, span_sent = offered_span(results, tokens, rate)
    span_delivered = max(received) - min(sent) if sent else float("nan")
    firsts = [r.first_delta_perf - r.sent_perf for r in results if r.first_delta_perf is not None]
    return {
        "tokens_expected": tokens * len(results),
        "tokens_delivered": len(delays),
        "offered_tok_per_s": tokens * streams / span_sent if span_sent > 0 else float("nan"),
        "delivered_tok_per_s": len(delays) / span_delivered if span_delivered > 0 else float("nan"),
        "delay_p50_ms": percentile(delays, 0.5) * 1e3,
        "delay_p99_ms": percentile(delays, 0.99) * 1e3,
        "delay_max_ms": max(delays) * 1e3 if delays else float("nan"),
        "first_delta_p50_ms": percentile(firsts, 0.5) * 1e3,
        "lost": lost,
        "doubled": doubled,
        "reordered": reordered,
        "garbled_chars": garbled,
        "unfinished": unfinished,
        "not_arrived": not_arrived,
        "statuses": statuses,
        "errors": errors,
        "delta_frames_per_reply": sum(r.frames for r in results) / len(results),
    }


async def _or_stop(setup: Setup, children: Children, phase: str, work: Any) -> Any:
    """Await `work`; if it fails, say so, stop the setup's servers and let the other setups run on."""
    try:
        return await work
    except Exception as exc:
        setup.stopped = f"{phase} failed, setup stopped: {type(exc).__name__}: {exc}"
        log(f"{setup.label}: {setup.stopped}")
        children.stop(only=setup.procs)
        return None


async def run_all(
    setups: list[Setup], children: Children, counts: tuple[int, ...], tokens: int, rate: float, grace: float,
    fake_pid: int, budget_end: float,
) -> dict[str, Any]:
    run = f"r{os.getpid()}"
    results: dict[str, Any] = {s.key: {"label": s.label, "rounds": {}} for s in setups}
    for setup in setups:
        log(f"{setup.label}: warm-up")
        await _or_stop(setup, children, "warm-up", warm_up(setup, run))
    for setup in setups:
        if not setup.stopped:
            log(f"{setup.label}: ping and first-delta latency")
            results[setup.key]["latency"] = await _or_stop(setup, children, "latency", measure_latency(setup, run))
        setup.idle_since = time.monotonic()
    bound = tokens / rate + grace
    # Each N runs on every setup in turn, baseline first, so load drift hits them alike.
    for count in counts:
        for setup in setups:
            if setup.stopped:
                continue
            if time.monotonic() + bound + 15 > budget_end:
                setup.stopped = f"N={count} and up skipped: not enough of the run's time bound left"
                continue
            log(f"{setup.label}: {count} concurrent replies of {tokens} tokens at {rate:g} tok/s (bound {bound:.0f} s)")
            figures = await measure_round(setup, count, tokens, rate, bound, run, fake_pid)
            results[setup.key]["rounds"][count] = figures
            if figures["unfinished"]:
                setup.stopped = (
                    f"N={count}: {figures['unfinished']} of {count} turns sent no turn.finished within {bound:.0f} s; "
                    f"larger N skipped and its server stopped"
                )
                log(setup.stopped)
                children.stop(only=setup.procs)
    for setup in setups:
        if setup.pending is not None:
            log(f"{setup.label}: waiting for PostgreSQL's counters of the last round")
            await pg_checkpoint(setup)
        results[setup.key]["stopped"] = setup.stopped
    return results


# --------------------------------------------------------------------------------------------
# Report


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _ratio(a: Any, b: Any) -> str:
    if a is None or b is None or a != a or b != b or not b:
        return "n/a"
    return f"{a / b:.2f}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return [line(header), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]


def report(
    results: dict[str, Any], counts: tuple[int, ...], tokens: int, rate: float, notes: list[str], load: float
) -> str:
    base = results.get("baseline", {}).get("rounds", {})
    keys = [k for k in SETUP_KEYS if k in results]
    out = [
        f"Relay benchmark: N concurrent replies of {tokens} tokens at {rate:g} tok/s from the fake LLM, loopback, "
        f"same run; x = site / bare relay at the same N",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load average {load:.2f} at the start",
        *notes,
        "",
    ]
    rows = []
    for count in counts:
        b = base.get(count)
        for key in keys:
            r = results[key]["rounds"].get(count)
            if r is None:
                continue
            rows.append((
                str(count), results[key]["label"], _fmt(r["offered_tok_per_s"]), _fmt(r["delivered_tok_per_s"]),
                _ratio(r["delivered_tok_per_s"], b and b["delivered_tok_per_s"]),
                _fmt(r["delay_p50_ms"], 1), _fmt(r["delay_p99_ms"], 1), _fmt(r["delay_max_ms"], 0),
                _ratio(r["delay_p50_ms"], b and b["delay_p50_ms"]), _ratio(r["delay_p99_ms"], b and b["delay_p99_ms"]),
                _fmt(r["server_cpu_us_per_token"]), _ratio(r["server_cpu_us_per_token"], b and b["server_cpu_us_per_token"]),
            ))
    out += _table(
        ("N", "setup", "offered tok/s", "delivered tok/s", "x", "delay p50 ms", "p99 ms", "max ms", "p50 x", "p99 x",
         "server CPU us/tok", "x"),
        rows,
    )
    out.append("")
    rows = []
    for count in counts:
        for key in keys:
            r = results[key]["rounds"].get(count)
            if r is None:
                continue
            rows.append((
                str(count), results[key]["label"], _fmt(r["lost"]), _fmt(r["doubled"]), _fmt(r["reordered"]),
                _fmt(r["unfinished"]) + (f" ({_fmt(r['not_arrived'])} tok)" if r["unfinished"] else ""),
                _fmt(r["delta_frames_per_reply"], 0), _fmt(r.get("db_writes_per_reply"), 1),
                _fmt(r.get("connections_per_reply"), 2), _fmt(r["first_delta_p50_ms"], 0),
                f"{r['server_cpu_share']:.2f}", f"{r['pg_redis_cpu_share']:.2f}", f"{r['fake_llm_cpu_share']:.2f}",
                f"{r['client_cpu_share']:.2f}",
            ))
    out += _table(
        ("N", "setup", "lost", "doubled", "reordered", "unfinished", "frames/reply", "db writes/reply",
         "conns/reply", "1st delta p50 ms", "server CPU", "pg+redis CPU", "fake CPU", "client CPU"),
        rows,
    )
    out.append("")
    rows = []
    for key in keys:
        lat = results[key].get("latency")
        if lat:
            write = lat["db_write_p50_ms"]
            allowance = 2 * lat["ping_p50_ms"] + (write if write == write else 0.0)
            rows.append((
                key, results[key]["label"], _fmt(lat["ping_p50_ms"], 2), _fmt(write, 2),
                _fmt(lat["first_delta_p50_ms"], 2), _fmt(lat["first_delta_p99_ms"], 1),
                _ratio(lat["first_delta_p50_ms"], lat["ping_p50_ms"]), _ratio(lat["first_delta_p50_ms"], allowance),
            ))
    out.append(f"message.send -> first assistant.delta, instant fake provider ({LATENCY_REPLIES} sequential new "
               f"conversations on one socket), against a ping round trip ({LATENCY_PINGS} pings) on the same socket "
               f"and one committed database write ({WRITE_PROBES} one-row UPDATEs over a kept connection):")
    out += _table(("", "setup", "ping p50 ms", "db write p50 ms", "first delta p50 ms", "p99 ms", "first/ping",
                   "first/(2 ping + write)"), rows)
    out.append("")
    saturation = {k: max((r["delivered_tok_per_s"] for r in results[k]["rounds"].values()), default=float("nan"))
                  for k in keys}
    parts = [
        f"{results[k]['label']} n/a" if saturation[k] != saturation[k] else
        f"{results[k]['label']} {_fmt(saturation[k])} tok/s"
        + (f" ({_ratio(saturation[k], saturation.get('baseline'))}x)" if k != "baseline" else "")
        for k in keys
    ]
    out.append("Most delivered tok/s at any N (x bare relay): " + "; ".join(parts))
    if "pg1" in saturation and "pg2" in saturation:
        out.append(f"PostgreSQL + Redis, 2 procs / 1 proc at the most delivered: {_ratio(saturation['pg2'], saturation['pg1'])}")
    save_interval = float(os.environ.get("CHAT_SAVE_INTERVAL_SECONDS", "0.25"))
    out.append(
        f"db writes/reply: inserts + updates of chat_message per reply (the person's message and the reply's insert "
        f"included); a {tokens / rate:g} s reply saved every {save_interval:g} s needs at most "
        f"~{tokens / rate / save_interval + 3:.0f}. conns/reply: PostgreSQL sessions opened per reply after warm-up. "
        f"SQLite: n/a (no such statistics)."
    )
    out.append("CPU columns: share of one core over the round (server = all its daphne processes; pg+redis = every "
               "postgres and redis-server process on the machine); a client near 1.00 set the pace, not the server.")
    for key in keys:
        if results[key].get("stopped"):
            out.append(f"{results[key]['label']}: {results[key]['stopped']}")
        for count, r in results[key]["rounds"].items():
            odd = {s: n for s, n in r["statuses"].items() if s != "complete"}
            if odd or r["garbled_chars"] or r["errors"]:
                out.append(f"{results[key]['label']}, N={count}: statuses {r['statuses']}, "
                           f"garbled chars {r['garbled_chars']}, errors {r['errors']}")
    return "\n".join(out)


def summary_json(results: dict[str, Any], counts: tuple[int, ...], tokens: int, rate: float) -> dict[str, Any]:
    def clean(value: Any) -> Any:
        if isinstance(value, float):
            return None if value != value else round(value, 3)
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    base = results.get("baseline", {}).get("rounds", {})
    ratios: dict[str, Any] = {}
    for key, data in results.items():
        if key == "baseline":
            continue
        for count, r in data["rounds"].items():
            b = base.get(count)
            if not b:
                continue
            ratios.setdefault(key, {})[str(count)] = {
                name: (r[name] / b[name] if b[name] else None)
                for name in ("delivered_tok_per_s", "delay_p50_ms", "delay_p99_ms", "server_cpu_us_per_token")
            }
    return clean({
        "bench": "relay",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "tokens": tokens,
        "rate": rate,
        "counts": list(counts),
        "setups": results,
        "ratios_site_over_baseline": ratios,
    })


# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"N = {', '.join(map(str, QUICK_COUNTS))} only")
    parser.add_argument("--counts", default="", help=f"comma-separated N (default {','.join(map(str, FULL_COUNTS))})")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per reply (default 200)")
    parser.add_argument("--rate", type=float, default=20.0, help="tokens per second per reply (default 20)")
    parser.add_argument("--grace", type=float, default=10.0,
                        help="seconds a round waits past its replies' nominal length for every turn.finished (default 10)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary directory with the daphne logs")
    parser.add_argument("--setups", default=",".join(SETUP_KEYS[1:]),
                        help="site setups besides the baseline: sqlite,pg1,pg2 (default all)")
    args = parser.parse_args()
    counts = tuple(int(c) for c in args.counts.split(",") if c) if args.counts else (
        QUICK_COUNTS if args.quick else FULL_COUNTS)
    keys = [k.strip() for k in args.setups.split(",") if k.strip()]
    if not counts or not all(1 <= c <= 500 for c in counts):
        parser.error("--counts must be between 1 and 500")
    if not 1 <= args.tokens <= 5000 or not 0.5 <= args.rate <= 200 or not 1 <= args.grace <= 300:
        parser.error("--tokens must be 1-5000, --rate 0.5-200 and --grace 1-300")
    if unknown := set(keys) - set(SETUP_KEYS[1:]):
        parser.error(f"unknown setups: {', '.join(sorted(unknown))}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(HARD_LIMIT_SECONDS)
    started, load = time.monotonic(), os.getloadavg()[0]
    children = Children()
    tmp = Path(tempfile.mkdtemp(prefix="chatsite-relay-"))
    setups: list[Setup] = []
    databases: list[str] = []
    try:
        log("starting the fake LLM server")
        fake_proc, llm_url = start_fake_llm(children)
        log("starting the bare relay (baseline)")
        setups = [start_baseline(children, tmp, llm_url)]
        sites, notes = start_sites(children, tmp, llm_url, keys, max(counts), databases)
        setups += sites
        for setup in setups:
            for daphne in setup.daphnes:
                wait_ready(daphne)
        budget_end = started + HARD_LIMIT_SECONDS - 20
        results = asyncio.run(asyncio.wait_for(
            run_all(setups, children, counts, args.tokens, args.rate, args.grace, fake_proc.pid, budget_end),
            max(30.0, budget_end - time.monotonic()),
        ))
        print(report(results, counts, args.tokens, args.rate, notes, load))
        print(json.dumps(summary_json(results, counts, args.tokens, args.rate), separators=(",", ":")))
        log(f"done in {time.monotonic() - started:.1f} s")
        return 0
    except KeyboardInterrupt as exc:
        log(f"interrupted ({exc or 'Ctrl-C'}); stopping the servers")
        return 130
    except Exception as exc:
        log(f"FAILED: {type(exc).__name__}: {exc}")
        for path in sorted(tmp.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-15:]
            if tail:
                log(f"last lines of {path.name}:\n" + "\n".join(tail))
        return 1
    finally:
        signal.alarm(0)
        children.stop()
        for setup in setups:
            if setup.pg is not None:
                setup.pg.close()
        for database in databases:
            drop_pg(database)
        if databases:
            clean_redis()
        if args.keep_logs:
            log(f"daphne logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
