"""MCP: the hub that owns client sessions for the configured servers, and the site's own servers."""

from chat.tools.hub import close_hub, get_hub, reset_hub, set_hub


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
