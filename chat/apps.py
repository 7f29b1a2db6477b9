from django.apps import AppConfig
from django.core.signals import setting_changed


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chat import llm, tools

        llm.check_configuration()
        tools.check_configuration()
        setting_changed.connect(_forget_built_layers, dispatch_uid="chat-reset-layers")


def _forget_built_layers(*, setting: str, **_: object) -> None:
    """Rebuild the LLM chain and the MCP hub after a settings change (tests, mostly)."""
    from chat import llm, tools

    if setting.startswith(("LLM_", "DEMO_")):
        llm.reset_llm()
    if setting.startswith("MCP_"):
        tools.reset_hub()
