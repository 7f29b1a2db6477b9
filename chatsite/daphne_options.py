"""Daphne's WebSocket behaviour that its command line does not offer.

- Autobahn, under daphne, fails a connection by dropping TCP by default (`failByDrop`): a frame
  over daphne's size limit (--websocket-max-message-size, 1 MiB) or a text frame of invalid UTF-8
  reached the page as 1006 with no reason. With failByDrop off it sends a close frame first: 1009
  (message too big) and 1007 (invalid payload), which the page can explain.
- A connection that is lost drops the bytes it never managed to send. Twisted keeps them in the
  transport's write buffer, and the transport, daphne's protocol and its HTTP channel hold each other
  in reference cycles that only a full garbage collection frees, which a busy process runs rarely. A
  client that asked for replays and never read them (dropped by the ping bound) left ~16 MB per socket
  behind until then (tests/integration/test_slow_reader.py).
- ASGI gives an application no way to know how much of what it sent is still unsent. Replays need
  it (chat/backpressure.py): each WebSocket's scope gets `extensions["chatsite.send_buffer"]`, a
  callable that says how many bytes wait in the connection's Twisted write buffer.
"""

from __future__ import annotations

import functools
from typing import Any

from chat.backpressure import EXTENSION as SEND_BUFFER_EXTENSION


def close_failed_connections_cleanly() -> None:
    try:
        from daphne.ws_protocol import WebSocketFactory
    except ImportError:  # served by something else than daphne
        return
    if getattr(WebSocketFactory, "_chatsite_clean_close", False):
        return
    original_init = WebSocketFactory.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.setProtocolOptions(failByDrop=False)

    WebSocketFactory.__init__ = __init__
    WebSocketFactory._chatsite_clean_close = True


def release_unsent_data_on_close() -> None:
    try:
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return
    if getattr(WebSocketProtocol, "_chatsite_release_unsent", False):
        return
    original = WebSocketProtocol.connectionLost

    def connectionLost(self: Any, reason: Any) -> None:  # noqa: N802 (Twisted's name)
        try:
            original(self, reason)
        finally:
            _drop_write_buffer(getattr(self, "transport", None))

    WebSocketProtocol.connectionLost = connectionLost
    WebSocketProtocol._chatsite_release_unsent = True


def _drop_write_buffer(transport: Any) -> None:
    """Empty a lost Twisted transport's write buffers (abstract.FileDescriptor: dataBuffer and its list)."""
    if transport is None or not getattr(transport, "disconnected", False):
        return
    transport.dataBuffer = b""
    transport.offset = 0
    if hasattr(transport, "_tempDataBuffer"):
        transport._tempDataBuffer = []
        transport._tempDataLen = 0


def expose_send_buffer() -> None:
    try:
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return
    if getattr(Server, "_chatsite_send_buffer", False):
        return
    original = Server.create_application

    def create_application(self: Any, protocol: Any, scope: dict[str, Any]) -> Any:
        if isinstance(protocol, WebSocketProtocol):
            scope.setdefault("extensions", {})[SEND_BUFFER_EXTENSION] = functools.partial(_unsent_bytes, protocol)
        return original(self, protocol, scope)

    Server.create_application = create_application
    Server._chatsite_send_buffer = True


def _unsent_bytes(protocol: Any) -> int:
    """Bytes written to the connection that the kernel has not taken yet (abstract.FileDescriptor's buffers)."""
    transport = getattr(protocol, "transport", None)
    if transport is None or getattr(transport, "disconnected", False):
        return 0
    buffered = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
    return buffered + getattr(transport, "_tempDataLen", 0)
