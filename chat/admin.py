from django.contrib import admin

from chat.models import Conversation, Message


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
