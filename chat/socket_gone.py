"""The exception that means "the client is gone": expected, so it is logged without a traceback."""

from __future__ import annotations

try:  # daphne's WebSocket layer (autobahn): "Attempt to send on a closed protocol"
    from autobahn.exception import Disconnected

    SOCKET_GONE: tuple[type[BaseException], ...] = (Disconnected,)
except ImportError:  # served by something else than daphne
    SOCKET_GONE = ()
