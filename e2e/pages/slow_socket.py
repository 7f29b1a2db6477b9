"""Makes the page receive its socket frames a few per animation frame, as over a slow or busy line.

Over loopback a whole page of history usually lands between two paints. On a real line, or a busy
machine, the browser paints (and fires scroll events) part way through; this makes that happen every
time, so a test sees what a person on such a line would.
"""

from __future__ import annotations

from playwright.sync_api import Page

_SCRIPT = """
(() => {
  const perPaint = PER_PAINT;
  const add = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function (type, listener, options) {
    if (type !== "message") return add.call(this, type, listener, options);
    const queue = [];
    let scheduled = false;
    const drain = () => {
      queue.splice(0, perPaint).forEach((event) => listener.call(this, event));
      scheduled = queue.length > 0;
      if (scheduled) requestAnimationFrame(drain);
    };
    return add.call(this, "message", (event) => {
      queue.push(event);
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(drain);
      }
    }, options);
  };
})();
"""


def receive_slowly(page: Page, per_paint: int = 2) -> None:
    """From the next page load on, deliver the socket's frames `per_paint` at a time, one batch per paint, in order."""
    page.add_init_script(_SCRIPT.replace("PER_PAINT", str(int(per_paint))))
