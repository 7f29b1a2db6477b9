from typing import Any

from django import forms
from django.contrib import admin, messages

from chat import services
from chat.models import ApiToken, Audio, Conversation, Document, Message


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("seq", "role", "status", "content", "tool_name", "tool_call_id", "is_error", "provider", "model")
    readonly_fields = fields
    can_delete = False
    ordering = ("seq",)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "owner", "created_at", "updated_at")
    list_filter = ("owner",)
    search_fields = ("title",)
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "seq", "role", "status", "tool_name", "is_error", "provider", "created_at")
    list_filter = ("role", "status", "is_error", "provider")
    search_fields = ("content", "client_id", "tool_call_id")


@admin.register(Audio)
class AudioAdmin(admin.ModelAdmin):
    """Recordings and replies read aloud; the file is played through the site (`/audio/<id>/`), to its owner."""

    list_display = ("id", "conversation", "kind", "duration_ms", "size_bytes", "created_at")
    list_filter = ("kind",)
    readonly_fields = ("conversation", "kind", "file", "content_type", "duration_ms", "size_bytes", "created_at")


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("owner", "name")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created here with a generated secret, shown once in the confirmation message; only its hash is kept."""

    list_display = ("id", "name", "owner", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "owner__username")
    readonly_fields = ("prefix", "digest", "created_at", "last_used_at")
    actions = ["revoke"]

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiTokenForm
            kwargs["fields"] = ("owner", "name")
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: Any, obj: Any = None) -> Any:
        return () if obj is None else (*self.readonly_fields, "owner")

    def save_model(self, request: Any, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, secret = services.api_token_create(owner=obj.owner, name=obj.name)
        obj.pk, obj.prefix, obj.digest, obj.created_at = token.pk, token.prefix, token.digest, token.created_at
        messages.warning(request, f"The token's secret, shown this once: {secret}")

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: Any, queryset: Any) -> None:
        for token in queryset:
            services.api_token_revoke(owner=token.owner, token_id=token.pk)


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    """Read-only: uploads and deletions go through chat/documents/services.py (checks, storage, passages)."""

    list_display = ("id", "name", "owner", "content_type", "size", "pages", "chars", "text_status", "created_at")
    list_filter = ("content_type", "text_status")
    search_fields = ("name", "sha256")
    readonly_fields = list_display + ("file", "sha256")

    def has_add_permission(self, request: Any) -> bool:
        return False
