"""MCP: the hub that owns client sessions for the configured servers, and the built-in server."""

from chat.tools.hub import get_hub

__all__ = ["get_hub"]
