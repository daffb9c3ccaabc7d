"""Reads of the chat app: what a customer sees of a conversation, and a turn's context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from chat.models import Conversation, Message, PendingAction
from orders.selectors import recent_orders_summary
from supportbot.errors import NotFound

if TYPE_CHECKING:
    from orders.models import Customer

VISIBLE_ROLES = (Message.Role.USER, Message.Role.ASSISTANT)


def turn_context(
    *, conversation: Conversation, upto: Message, history_limit: int, orders_limit: int
) -> tuple[list[Message], list[dict[str, Any]]]:
    """What a chat turn's context is built from, in two queries.

    Returns the conversation's last `history_limit` messages up to `upto`, oldest first (with
    only role, model, text, tool_calls, tool_result and created_at loaded), and the customer's latest
    `orders_limit` orders as orders.selectors.recent_orders_summary gives them.
    """
    latest = (
        Message.objects.filter(conversation=conversation, pk__lte=upto.pk)
        .only("conversation_id", "role", "model", "text", "tool_calls", "tool_result", "created_at")
        .order_by("-created_at", "-id")[:history_limit]
    )
    history = list(latest)[::-1]
    for message in history:
        message.conversation = conversation
    return history, recent_orders_summary(customer=conversation.customer, limit=orders_limit)


def access_conversation(*, customer: Customer | None, conversation_id: int) -> Conversation:
    """The conversation, with its customer loaded, if it is `customer`'s; NotFound otherwise.

    A missing conversation, another customer's and a caller with no store profile
    (`customer=None`) all get the same NotFound: an answer that differed would tell a
    customer which conversation ids exist. The web views turn it into a 404 page (or the
    htmx error box), the API into its JSON 404.
    """
    conversation = (
        Conversation.objects.filter(pk=conversation_id, customer=customer).select_related("customer").first()
        if customer is not None
        else None
    )
    if conversation is None:
        raise NotFound("That conversation was not found.")
    return conversation


def conversation_messages_visible(*, conversation: Conversation) -> QuerySet[Message]:
    """What the customer sees: their messages and the assistant's answers with text."""
    return conversation.messages.filter(role__in=VISIBLE_ROLES).exclude(text="").order_by("created_at", "id")


def conversation_actions(*, conversation: Conversation) -> QuerySet[PendingAction]:
    return conversation.pending_actions.order_by("created_at", "id")
