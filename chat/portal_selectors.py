"""Reads for the customer chat page and widget: conversation lists and threads ready to render.

Every function takes the acting customer and filters by it, so a view can't show someone
else's conversation by passing the wrong id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Prefetch, QuerySet

from chat.models import Conversation, Feedback, Message, PendingAction, PendingTurn

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from orders.models import Customer

CONVERSATION_LIST_SIZE = 30
THREAD_SIZE = 100
WIDGET_THREAD_SIZE = 12


def conversations_for_customer(*, customer: Customer, limit: int = CONVERSATION_LIST_SIZE) -> list[Conversation]:
    """The customer's conversations, most recent activity first."""
    return list(Conversation.objects.filter(customer=customer).order_by("-last_activity_at", "-id")[:limit])


def conversation_latest(*, customer: Customer) -> Conversation | None:
    return Conversation.objects.filter(customer=customer).order_by("-last_activity_at", "-id").first()


def _thread_queryset(*, conversation: Conversation, user: User) -> QuerySet[Message]:
    return (
        Message.objects.filter(conversation=conversation)
        # Notes are staff-only; the LLM's tool-calling rounds carry no text worth showing.
        .exclude(role=Message.Role.NOTE)
        .prefetch_related(
            Prefetch("actions", queryset=PendingAction.objects.order_by("created_at", "id")),
            Prefetch("feedback", queryset=Feedback.objects.filter(user=user), to_attr="my_feedback"),
        )
    )


def thread_messages(*, conversation: Conversation, user: User, limit: int = THREAD_SIZE) -> list[Message]:
    """The last `limit` visible messages of the conversation, oldest first."""
    newest = list(_thread_queryset(conversation=conversation, user=user).order_by("-created_at", "-id")[:limit])
    newest.reverse()
    return newest


def thread_messages_after(
    *, conversation: Conversation, user: User, after_id: int, include_customer: bool = True
) -> list[Message]:
    """Messages stored after message `after_id` (what one turn added), oldest first."""
    queryset = _thread_queryset(conversation=conversation, user=user).filter(pk__gt=after_id)
    if not include_customer:
        queryset = queryset.exclude(role=Message.Role.USER)
    return list(queryset.order_by("created_at", "id"))


def turn_replies(*, turn: PendingTurn, user: User) -> list[Message]:
    """What the assistant answered to a handed-over turn, oldest first ([] before it is stored).

    The answer is what follows the turn's own message up to the customer's next one.
    """
    asked = (
        Message.objects.filter(
            conversation_id=turn.conversation_id,
            role=Message.Role.USER,
            text=turn.text,
            created_at__gte=turn.created_at,
        )
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if asked is None:
        return []
    following = (
        _thread_queryset(conversation=turn.conversation, user=user).filter(pk__gt=asked).order_by("created_at", "id")
    )
    replies = []
    for message in following:
        if message.role == Message.Role.USER:
            break
        replies.append(message)
    return replies


def last_message_id(*, conversation: Conversation) -> int:
    return Message.objects.filter(conversation=conversation).order_by("-id").values_list("id", flat=True).first() or 0
