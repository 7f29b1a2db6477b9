"""Routes a page's chat sockets through Playwright: see what the page sends, cut the line at will."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, WebSocketRoute


class SocketTap:
    """Routes the page's chat sockets through Playwright, so a test can see what the page sends and cut the line."""

    def __init__(self) -> None:
        self.connections: list[tuple[WebSocketRoute, WebSocketRoute, list[dict[str, Any]]]] = []
        # What reaches the page of each server frame: given the frame and its text, the texts to deliver
        # now (none drops it, two duplicate it; a policy may keep one and deliver it later, reordered).
        self.from_server: Callable[[dict[str, Any], str], list[str]] | None = None
        # Page frames for which this says True wait in `held` until `release_held()` sends them all at once.
        self.hold_from_page: Callable[[dict[str, Any]], bool] | None = None
        self.held: list[tuple[WebSocketRoute, str | bytes]] = []
        # While True, a new socket the page opens is closed at once (1006), never connected: the page stays
        # disconnected, retrying, as when the server cannot be reached.
        self.refuse_new = False

    def __call__(self, page_side: WebSocketRoute) -> None:
        if self.refuse_new:
            page_side.close(code=1006)
            return
        server_side = page_side.connect_to_server()
        sent: list[dict[str, Any]] = []

        def forward(message: str | bytes) -> None:
            frame = json.loads(message)
            sent.append(frame)
            if self.hold_from_page is not None and self.hold_from_page(frame):
                self.held.append((server_side, message))
                return
            server_side.send(message)

        def deliver(message: str | bytes) -> None:
            if self.from_server is None or isinstance(message, bytes):
                page_side.send(message)
                return
            for text in self.from_server(json.loads(message), message):
                page_side.send(text)

        page_side.on_message(forward)
        server_side.on_message(deliver)
        self.connections.append((page_side, server_side, sent))

    def cut(self, index: int) -> None:
        page_side, server_side, _ = self.connections[index]
        page_side.close(code=4000, reason="test cut the line")
        server_side.close()

    def close_as_server(self, index: int, code: int, reason: str) -> None:
        """The server's side closes with this code and reason, as the page would see it."""
        page_side, server_side, _ = self.connections[index]
        page_side.close(code=code, reason=reason)
        server_side.close()

    def drop(self, index: int) -> None:
        """The line dies without a closing handshake: the page sees 1006, the server its peer gone."""
        page_side, server_side, _ = self.connections[index]
        page_side.close(code=1006, reason="")
        server_side.close()

    def wait_for_held(self, page: Page, count: int, timeout: float = 5.0) -> None:
        """Wait until `count` page frames are held back (the route's callbacks run while Playwright is called)."""
        deadline = time.monotonic() + timeout
        while len(self.held) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} page frames held within {timeout:g} s, got {len(self.held)}")
            page.wait_for_timeout(10)  # allowed-sleep: lets Playwright run the route's callbacks; bounded above

    def release_held(self) -> None:
        """Send every held page frame to the server now, back to back, in the order the pages sent them."""
        held, self.held, self.hold_from_page = self.held, [], None
        for server_side, message in held:
            server_side.send(message)

    def sent(self, index: int) -> list[dict[str, Any]]:
        return self.connections[index][2]
