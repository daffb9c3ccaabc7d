"""Conversations in Django admin, read only: staff look a chat up (by customer, intent or words)
and open its ticket; what happens in a conversation is the assistant's and the customer's to write.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from chat.models import Conversation, Message


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "role", "text", "intent")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("created_at", "id")
    verbose_name_plural = "Messages"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).exclude(role=Message.Role.TOOL)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "channel", "status", "topic", "started_at", "last_activity_at", "tickets_link")
    list_filter = ("status", "channel")
    search_fields = ("customer__email", "customer__handle", "intent", "messages__text")
    list_select_related = ("customer",)
    readonly_fields = (
        "customer",
        "status",
        "channel",
        "started_at",
        "last_activity_at",
        "intent",
        "sentiment_label",
        "summary",
    )
    fields = readonly_fields
    inlines = [MessageInline]
    date_hierarchy = "started_at"
    show_full_result_count = False

    @admin.display(description="Topic", ordering="intent")
    def topic(self, conversation: Conversation) -> str:
        label = conversation.intent.replace("_", " ").strip()
        return label[:1].upper() + label[1:] if label else "—"

    @admin.display(description="Tickets")
    def tickets_link(self, conversation: Conversation) -> str:
        url = reverse("admin:tickets_ticket_changelist") + f"?conversation__id__exact={conversation.pk}"
        return format_html('<a href="{}">Tickets</a>', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
