from django.apps import AppConfig
from django.core.signals import setting_changed
from django.db.models.signals import post_migrate


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # session_watch and voice connect their signal receivers when imported
        from chat import llm, metrics, session_watch, speech, tools, voice  # noqa: F401

        llm.check_configuration()
        speech.check_configuration()
        tools.check_configuration()
        metrics.check_configuration()
        setting_changed.connect(_forget_built_layers, dispatch_uid="chat-reset-layers")
        post_migrate.connect(_create_cache_table, sender=self, dispatch_uid="chat-create-cache-table")


def _create_cache_table(*, using: str = "default", **_: object) -> None:
    """Every `migrate` also creates the database cache table the rate limits use (a no-op when it exists)."""
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


def _forget_built_layers(*, setting: str, **_: object) -> None:
    """Rebuild the LLM chain and the MCP hub after a settings change (tests, mostly)."""
    from chat import llm, speech, tools

    if setting.startswith(("LLM_", "DEMO_")):
        llm.reset_llm()
    if setting.startswith(("STT_", "TTS_")):
        speech.reset_speech()
    if setting.startswith("MCP_"):
        tools.reset_hub()
