"""Daphne's WebSocket options that its command line does not offer.

Autobahn, under daphne, fails a connection by dropping TCP by default (`failByDrop`): a frame
over daphne's size limit (--websocket-max-message-size, 1 MiB) or a text frame of invalid UTF-8
reached the page as 1006 with no reason. With failByDrop off it sends a close frame first: 1009
(message too big) and 1007 (invalid payload), which the page can explain.
"""

from __future__ import annotations

from typing import Any


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
