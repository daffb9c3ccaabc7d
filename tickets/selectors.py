"""Reads of the tickets app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tickets.models import Ticket

if TYPE_CHECKING:
    from chat.models import Conversation


def ticket_active_for_conversation(*, conversation: Conversation) -> Ticket | None:
    """The conversation's newest ticket still being worked (new/open/waiting), if any."""
    return (
        Ticket.objects.filter(conversation=conversation, status__in=Ticket.ACTIVE_STATUSES)
        .order_by("-created_at")
        .first()
    )
