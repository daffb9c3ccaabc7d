"""Reads of the tickets app, and the support analytics of /api/chat/analytics (conversations and tickets)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncDate

from chat.models import Conversation, Feedback, Message, PendingAction, ToolCallLog
from tickets.models import Ticket


def ticket_active_for_conversation(*, conversation: Conversation) -> Ticket | None:
    """The conversation's newest ticket still being worked (new/open/waiting), if any."""
    return (
        Ticket.objects.filter(conversation=conversation, status__in=Ticket.ACTIVE_STATUSES)
        .order_by("-created_at")
        .first()
    )


def support_analytics_summary(*, since: datetime, until: datetime) -> dict[str, Any]:
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
        .annotate(
            calls=Count("id"), failures=Count("id", filter=Q(ok=False)), proposed=Count("id", filter=Q(proposed=True))
        )
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
        for row in conversations.annotate(day=TruncDate("started_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    ]
    intents = list(
        conversations.exclude(intent="")
        .values("intent")
        .annotate(conversations=Count("id"))
        .order_by("-conversations")[:10]
    )
    tickets = (
        Ticket.objects.filter(created_at__gte=since, created_at__lt=until).values("priority").annotate(n=Count("id"))
    )
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
