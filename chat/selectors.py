"""Reads of the chat app: what a customer sees of a conversation, and staff analytics."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.functions import TruncDate

from chat.models import Conversation, Feedback, Message, PendingAction, ToolCallLog
from orders.selectors import recent_orders_summary
from supportbot.errors import NotFound
from tickets.models import Ticket

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


def analytics_summary(*, since: datetime, until: datetime) -> dict[str, Any]:
    """Aggregates over conversations started in [since, until): one query per figure family."""
    conversations = Conversation.objects.filter(started_at__gte=since, started_at__lt=until)
    counts = conversations.aggregate(
        total=Count("id"),
        escalated=Count("id", filter=Q(status=Conversation.Status.ESCALATED) | Q(tickets__isnull=False), distinct=True),
    )
    total = counts["total"] or 0
    answers = Message.objects.filter(
        conversation__in=conversations, role=Message.Role.ASSISTANT, latency_ms__isnull=False
    )
    latency = answers.aggregate(avg=Avg("latency_ms"), prompt=Avg("prompt_tokens"), completion=Avg("completion_tokens"))
    feedback = Feedback.objects.filter(created_at__gte=since, created_at__lt=until).aggregate(
        up=Count("id", filter=Q(rating=Feedback.Rating.UP)), down=Count("id", filter=Q(rating=Feedback.Rating.DOWN))
    )
    tools = list(
        ToolCallLog.objects.filter(created_at__gte=since, created_at__lt=until)
        .values("tool")
        .annotate(calls=Count("id"), failures=Count("id", filter=Q(ok=False)), proposed=Count("id", filter=Q(proposed=True)))
        .order_by("-calls", "tool")
    )
    actions = dict(
        PendingAction.objects.filter(created_at__gte=since, created_at__lt=until)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    per_day = [
        {"date": row["day"].isoformat(), "conversations": row["n"]}
        for row in conversations.annotate(day=TruncDate("started_at")).values("day").annotate(n=Count("id")).order_by("day")
    ]
    intents = list(
        conversations.exclude(intent="").values("intent").annotate(conversations=Count("id")).order_by("-conversations")[:10]
    )
    tickets = Ticket.objects.filter(created_at__gte=since, created_at__lt=until).values("priority").annotate(n=Count("id"))
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "conversations": total,
        "escalated": counts["escalated"],
        "escalation_rate": round(counts["escalated"] / total, 4) if total else 0.0,
        "automated_resolution_rate": round(1 - counts["escalated"] / total, 4) if total else 0.0,
        "average_latency_ms": round(latency["avg"] or 0, 1),
        "average_prompt_tokens": round(latency["prompt"] or 0, 1),
        "average_completion_tokens": round(latency["completion"] or 0, 1),
        "feedback": {"up": feedback["up"], "down": feedback["down"]},
        "tools": tools,
        "actions": {status: actions.get(status, 0) for status in PendingAction.Status.values},
        "tickets_by_priority": {row["priority"]: row["n"] for row in tickets},
        "conversations_per_day": per_day,
        "top_intents": intents,
    }
