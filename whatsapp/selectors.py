"""Reads of the WhatsApp channel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from whatsapp.models import InboundEvent, WhatsAppContact

if TYPE_CHECKING:
    from chat.models import Conversation
    from orders.models import Customer


def contact_for_conversation(*, conversation: Conversation) -> WhatsAppContact | None:
    """The number that last wrote in `conversation` (None for a conversation from elsewhere)."""
    event = (
        InboundEvent.objects.filter(conversation=conversation, kind=InboundEvent.Kind.MESSAGE, contact__isnull=False)
        .select_related("contact")
        .order_by("-received_at", "-id")
        .first()
    )
    return event.contact if event is not None else None


def contacts_linked(*, customer: Customer) -> list[WhatsAppContact]:
    """The WhatsApp numbers linked to the customer's account, oldest link first."""
    return list(
        WhatsAppContact.objects.filter(customer=customer, verified_at__isnull=False).order_by("verified_at", "id")
    )
