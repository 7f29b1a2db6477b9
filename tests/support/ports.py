"""A free loopback port, for the servers the suites and benches start (daphne, MCP over HTTP, fakes)."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now; whoever binds it next should do so soon."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
