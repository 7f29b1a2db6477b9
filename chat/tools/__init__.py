"""MCP: the hub that owns client sessions for the configured servers, and the site's own servers.

The hub (and with it the MCP SDK, about 0.9 s of imports) loads at its first use, not at `django.setup()`:
`manage.py` commands and settings checks never touch it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chat.tools.hub import Hub


def get_hub() -> Hub:
    """The process's hub, built once from settings."""
    from chat.tools import hub

    return hub.get_hub()


def set_hub(new: Hub | None) -> Hub | None:
    """Install a hub (tests) and return the previous one; None makes the next get_hub() rebuild from settings."""
    from chat.tools import hub

    return hub.set_hub(new)


def reset_hub() -> None:
    """Forget the hub so the next turn reads settings again. Await close_hub() first to stop its sessions."""
    if (hub := sys.modules.get("chat.tools.hub")) is not None:  # never loaded: nothing to forget
        hub.reset_hub()


async def close_hub() -> None:
    """Close the current hub's sessions, if a hub was built."""
    if (hub := sys.modules.get("chat.tools.hub")) is not None:
        await hub.close_hub()


def check_configuration() -> None:
    """Validate MCP settings and the servers file at start-up; raises ImproperlyConfigured. No process, no network."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from chat.tools.config import check_not_taken, load_servers

    for key in ("MCP_CALL_TIMEOUT_SECONDS", "MCP_CONFIRM_TIMEOUT_SECONDS", "MCP_LIST_TIMEOUT_SECONDS"):
        if not float(getattr(settings, key)) > 0:
            raise ImproperlyConfigured(f"{key} must be a positive number of seconds.")
    if int(settings.MCP_MAX_RESULT_CHARS) < 100:
        raise ImproperlyConfigured("MCP_MAX_RESULT_CHARS must be at least 100.")
    check_not_taken(load_servers())


__all__ = ["check_configuration", "close_hub", "get_hub", "reset_hub", "set_hub"]
