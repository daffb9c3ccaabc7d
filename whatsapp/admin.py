"""Admin for the WhatsApp channel: numbers and their accounts, what came in, what went out.

Failed sends are listed under Outbound messages (filter by status "failed"), each with its
last error and attempts, and can be queued again; failed inbound events can be processed again.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from whatsapp.models import InboundEvent, LinkCode, OutboundMessage, WhatsAppContact
from whatsapp.services import contact_unlink, inbound_event_retry, outbound_retry_failed


class LinkCodeInline(admin.TabularInline):
    model = LinkCode
    extra = 0
    can_delete = False
    fields = ("customer", "created_at", "expires_at", "emailed_at", "attempts", "used_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: WhatsAppContact | None = None) -> bool:
        return False


@admin.register(WhatsAppContact)
class WhatsAppContactAdmin(admin.ModelAdmin):
    list_display = ("__str__", "profile_name", "customer", "verified_at", "last_inbound_at", "window_open")
    list_filter = (("verified_at", admin.EmptyFieldListFilter),)
    search_fields = ("phone", "profile_name", "customer__email", "customer__handle")
    readonly_fields = (
        "phone",
        "customer",
        "verified_at",
        "guest_customer",
        "conversation",
        "last_inbound_at",
        "created_at",
    )
    fields = ("phone", "profile_name", *readonly_fields[1:])
    inlines = [LinkCodeInline]
    actions = ["unlink"]

    @admin.display(boolean=True, description="24-hour window open")
    def window_open(self, contact: WhatsAppContact) -> bool:
        return contact.in_session_window()

    @admin.action(description="Unlink the selected numbers from their accounts")
    def unlink(self, request: HttpRequest, queryset: QuerySet[WhatsAppContact]) -> None:
        for contact in queryset:
            contact_unlink(contact_id=contact.pk)
        self.message_user(request, f"Unlinked {queryset.count()} number(s).", messages.SUCCESS)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "contact", "kind", "short_text", "status", "attempts", "last_error")
    list_filter = ("status", "kind")
    search_fields = ("contact__phone", "text", "wamid")
    list_select_related = ("contact",)
    readonly_fields = (
        "contact",
        "conversation",
        "chat_message",
        "kind",
        "text",
        "payload",
        "wamid",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
        "delivered_at",
        "read_at",
        "failed_at",
    )
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="text")
    def short_text(self, message: OutboundMessage) -> str:
        return message.text[:80]

    @admin.action(description="Send the selected failed messages again")
    def retry(self, request: HttpRequest, queryset: QuerySet[OutboundMessage]) -> None:
        count = outbound_retry_failed(message_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Queued {count} failed message(s) again.", messages.SUCCESS)


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ("received_at", "kind", "phone", "key", "state", "error")
    list_filter = ("state", "kind")
    search_fields = ("phone", "key")
    readonly_fields = (
        "key",
        "kind",
        "phone",
        "payload",
        "state",
        "error",
        "contact",
        "conversation",
        "received_at",
        "processed_at",
    )
    actions = ["process_again"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Process the selected failed events again")
    def process_again(self, request: HttpRequest, queryset: QuerySet[InboundEvent]) -> None:
        count = sum(inbound_event_retry(event_id=pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"Queued {count} event(s) again.", messages.SUCCESS)
