"""A real daphne serving the site in a subprocess, for the suites and benches that cross a process.

    server = start_daphne(env, tmp_path)      # waits until the login page answers
    servers = wait_until_serving([launch_daphne(env, tmp_path, name=n) for n in ("a", "b")])  # start-ups overlap
    ...                                        # drive server.url / server.ws_url
    server.stop()                              # SIGTERM, then SIGKILL after a grace period

Mocks in the test process never reach the server: point it at fake services through `env`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import requests

from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL for a server process that must use the database this process has open (a test database)."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{settings_dict['NAME']}"


@dataclass
class Daphne:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = field(repr=False)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws/chat/"

    def log_tail(self, start: int = 0) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[start:].decode("utf-8", "replace")

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def stop(self, grace: float = 3.0) -> float:
        """SIGTERM, SIGKILL if it has not exited after `grace` seconds; returns how long it took to exit."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self._wait_for_exit(started + grace)
        return time.monotonic() - started

    def _wait_for_exit(self, deadline: float) -> None:
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: nothing in the process runs after it."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        self._log.close()


def server_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment for a server, without what would hide real bugs there."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", "PYTHONUNBUFFERED": "1", **extra}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def offline_site_env(**overrides: str) -> dict[str, str]:
    """A production-like server (DEBUG off) on this test's database: the offline demo model, no servers file."""
    from django.conf import settings
    from django.db import connection

    return server_env({
        "DEBUG": "false", "SECRET_KEY": settings.SECRET_KEY, "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url(connection.settings_dict), "LLM_PROVIDERS": "", "LLM_PROVIDERS_FILE": "",
        "MCP_SERVERS_FILE": "", **overrides,
    })


def start_daphne(
    env: dict[str, str], directory: Path, *, name: str = "daphne", timeout: float = 30.0, args: Sequence[str] = ()
) -> Daphne:
    """Start `daphne [args] chatsite.asgi:application` on a free loopback port and wait until it serves."""
    return wait_until_serving([launch_daphne(env, directory, name=name, args=args)], timeout)[0]


def launch_daphne(env: dict[str, str], directory: Path, *, name: str = "daphne", args: Sequence[str] = ()) -> Daphne:
    """Start daphne without waiting for it: launch several, then `wait_until_serving` them together, so their
    start-ups (a second or more each, most of it importing the site) overlap."""
    port = free_port()
    log_path = directory / f"{name}.log"
    log = log_path.open("wb")
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), *args, "chatsite.asgi:application"]
    env = {"MEDIA_ROOT": str(directory / f"{name}-media"), **env}  # uploads stay in the test's directory
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Daphne(f"http://127.0.0.1:{port}", process, log_path, log)


def wait_until_serving(servers: Sequence[Daphne], timeout: float = 30.0) -> list[Daphne]:
    """Wait until each launched server serves, all within `timeout`; stops them all if one does not."""
    deadline = time.monotonic() + timeout
    try:
        for server in servers:
            _wait_until_up(server, max(0.0, deadline - time.monotonic()))
    except BaseException:
        stop_all(servers, grace=1)
        raise
    return list(servers)


def stop_all(servers: Sequence[Daphne], grace: float = 3.0) -> None:
    """Stop several servers at once: SIGTERM to each, then the same grace for all, then SIGKILL."""
    deadline = time.monotonic() + grace
    for server in servers:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    for server in servers:
        server._wait_for_exit(deadline)


def _wait_until_up(server: Daphne, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"daphne exited with {server.process.returncode} before serving; log:\n{server.log_tail()}")
        try:
            if requests.get(f"{server.url}/accounts/login/", timeout=2).status_code == 200:
                return
        except requests.RequestException as exc:
            last_error = str(exc)
        time.sleep(0.1)  # allowed-sleep: polling a starting process, bounded by the deadline above
    raise RuntimeError(f"daphne did not serve {server.url} within {timeout} s ({last_error}); log:\n{server.log_tail()}")
