"""MCP: the hub that owns client sessions for the configured servers, and the site's own servers."""

from chat.tools.hub import close_hub, get_hub, reset_hub, set_hub


def check_configuration() -> None:
    """Validate MCP settings and the servers file at start-up; raises ImproperlyConfigured. No process, no network."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from chat.tools.config import load_servers

    for key in ("MCP_CALL_TIMEOUT_SECONDS", "MCP_CONFIRM_TIMEOUT_SECONDS", "MCP_LIST_TIMEOUT_SECONDS"):
        if not float(getattr(settings, key)) > 0:
            raise ImproperlyConfigured(f"{key} must be a positive number of seconds.")
    if int(settings.MCP_MAX_RESULT_CHARS) < 100:
        raise ImproperlyConfigured("MCP_MAX_RESULT_CHARS must be at least 100.")
    servers = load_servers()
    own = {"builtin": settings.MCP_BUILTIN_ENABLED, "documents": settings.DOCUMENTS_ENABLED}
    for name, enabled in own.items():
        if enabled and name in servers:
            raise ImproperlyConfigured(f"MCP server {name!r}: the name is taken by the site's own server; choose another.")


__all__ = ["check_configuration", "close_hub", "get_hub", "reset_hub", "set_hub"]
