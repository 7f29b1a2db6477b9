"""What the benchmarks share: child processes that die with the script, a daphne started and
waited for, CPU and memory of a process from /proc, and bounded `websockets` client helpers.

Loopback only; every wait has a bound. Imported by the scripts in bench/ (run as files, so this
directory is on sys.path).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support: what the suites share (free ports, the fake LLM server)
from tests.support.ports import free_port  # noqa: E402

BIN = Path(sys.executable).parent  # .venv/bin when run as the Makefile does
HOST = "127.0.0.1"
RECV_TIMEOUT = 15.0  # no single reply may take longer than this
CONNECT_TIMEOUT = 10.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def on_signal(signum: int, _frame: Any) -> None:
    """SIGTERM/SIGALRM handler: unwind like Ctrl-C, so `finally` blocks stop the children."""
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


# --------------------------------------------------------------------------------------------
# Child processes


def _die_with_parent() -> None:
    """preexec_fn: the child is killed if this script dies, even by SIGKILL (Linux prctl).

    SIGKILL, not SIGTERM: daphne may not exit on SIGTERM (see Children.stop), and nobody is
    left to follow up once this script is gone.
    """
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Children:
    """Processes this script started; stop() ends each by its own process group id."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, args: list[str], **kwargs: Any) -> subprocess.Popen:
        proc = subprocess.Popen(args, start_new_session=True, preexec_fn=_die_with_parent, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, grace: float = 3.0, only: list[subprocess.Popen] | None = None) -> None:
        """SIGTERM each child's process group, SIGKILL what is still there after `grace` seconds."""
        procs = self.procs if only is None else only
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"pid {proc.pid} ({Path(proc.args[0]).name}) did not exit {grace:g} s after SIGTERM; sending SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if only is not None:
            self.procs = [p for p in self.procs if p not in only]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "; fields[0] is state
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_name(names: set[str]) -> dict[int, float]:
    """CPU seconds of every process whose name (/proc/<pid>/comm) is in `names`, by pid."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            if (entry / "comm").read_text().strip() in names:
                found[int(entry.name)] = cpu_seconds(int(entry.name))
    return found


def rss_kb(pid: int) -> int:
    match = re.search(r"^VmRSS:\s+(\d+)\s+kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    if not match:
        raise RuntimeError(f"no VmRSS for pid {pid}")
    return int(match.group(1))


def readline_with_timeout(proc: subprocess.Popen, seconds: float) -> str:
    """One line of a child's stdout, or "" if none comes within `seconds`."""
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=seconds):
            return ""
    return proc.stdout.readline()


def site_env(**overrides: str) -> dict[str, str]:
    """The environment of a site process: production mode on loopback, nothing from a local .env
    that would change what is measured (settings read .env without overwriting what is set here)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE"}}
    env.update({
        "DEBUG": "false",
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LLM_PROVIDERS": "",
        "LLM_PROVIDERS_FILE": "",
        "MCP_SERVERS_FILE": "",
        "MCP_BUILTIN_ENABLED": "true",
        "REDIS_URL": "",
        # One socket sends far more than the default 20 messages a minute here.
        "CHAT_RATE_LIMIT_MESSAGES": "1000000",
        # Hundreds of sockets of one person, and many replies at once (per-person limits, chat/ratelimit.py).
        "CHAT_MAX_SOCKETS_PER_PERSON": "100000",
        "CHAT_MAX_CONCURRENT_REPLIES": "100000",
        "CHAT_REPLAYS_PER_MINUTE": "100000",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(overrides)
    return env


def manage(args: list[str], env: dict[str, str], timeout: float = 90) -> str:
    """Run `manage.py <args>` and return its stdout; raise with the end of stderr if it fails."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


# Users and sessions made directly (a login per socket through the form would take minutes).
MAKE_SESSIONS = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
User = get_user_model()
User.objects.bulk_create([User(username=f"bench{i:04d}", password="!") for i in range({count})])
keys = []
for user in User.objects.filter(username__startswith="bench").order_by("username"):
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    keys.append(session.session_key)
print(json.dumps(keys))
"""



def prepare_database(env: dict[str, str], users: int) -> list[str]:
    """Migrate the site's database and make `users` people with a session each; their session keys."""
    manage(["migrate", "--noinput"], env)
    out = manage(["shell", "-c", MAKE_SESSIONS.replace("{count}", str(users))], env)
    sessions = json.loads(out.strip().splitlines()[-1])
    if len(sessions) != users:
        raise RuntimeError(f"expected {users} sessions, made {len(sessions)}")
    return sessions


@dataclass
class Daphne:
    proc: subprocess.Popen
    port: int
    log_path: Path
    ready_path: str | None  # GET this until it answers 200; None: until the port accepts connections


def launch_daphne(
    children: Children, application: str, env: dict[str, str], log_path: Path, ready_path: str | None = None
) -> Daphne:
    """A daphne serving `application` on a free loopback port; wait_ready() waits for it to answer."""
    port = free_port()
    with log_path.open("w") as out:
        proc = children.start(
            [str(BIN / "daphne"), "-b", HOST, "-p", str(port), application],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    return Daphne(proc, port, log_path, ready_path)


def wait_ready(daphne: Daphne, bound: float = 30) -> None:
    import requests

    deadline = time.monotonic() + bound
    while True:
        if daphne.proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {daphne.proc.returncode}:\n{daphne.log_path.read_text()[-3000:]}")
        with contextlib.suppress(OSError, requests.RequestException):
            if daphne.ready_path is None:
                socket.create_connection((HOST, daphne.port), timeout=2).close()
                return
            if requests.get(f"http://{HOST}:{daphne.port}{daphne.ready_path}", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"daphne did not answer in {bound:g} s:\n{daphne.log_path.read_text()[-3000:]}")
        time.sleep(0.2)  # allowed-sleep: a bounded poll of another process


def start_daphne(
    children: Children, application: str, env: dict[str, str], log_path: Path, ready_path: str | None = None
) -> tuple[subprocess.Popen, int]:
    """launch_daphne() and wait_ready(): a daphne that answers, and its port."""
    daphne = launch_daphne(children, application, env, log_path, ready_path)
    wait_ready(daphne)
    return daphne.proc, daphne.port


# --------------------------------------------------------------------------------------------
# Clients


@dataclass
class Target:
    name: str
    url: str
    pid: int
    headers: dict[str, str] = field(default_factory=dict)


async def open_socket(url: str, headers: dict[str, str]) -> Any:
    from websockets.asyncio.client import connect

    return await connect(
        url, additional_headers=headers, compression=None, proxy=None,
        open_timeout=CONNECT_TIMEOUT, ping_interval=None, close_timeout=2, max_size=1024 * 1024,
    )


async def open_many(targets: list[tuple[str, dict[str, str]]], batch: int = 10) -> list[Any]:
    """One socket per (url, headers), a few handshakes at a time (more would queue anyway)."""
    sockets: list[Any] = []
    try:
        for start in range(0, len(targets), batch):
            sockets += await asyncio.gather(*(open_socket(url, headers) for url, headers in targets[start:start + batch]))
    except BaseException:
        await close_sockets(sockets)
        raise
    return sockets


async def open_sockets(target: Target, count: int) -> list[Any]:
    return await open_many([(target.url, target.headers)] * count)


async def close_sockets(sockets: list[Any]) -> None:
    async def one(ws: Any) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(3):
                await ws.close()

    await asyncio.gather(*(one(ws) for ws in sockets))


async def recv_json(ws: Any) -> dict[str, Any]:
    async with asyncio.timeout(RECV_TIMEOUT):
        return json.loads(await ws.recv())
