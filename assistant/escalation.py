"""Handing a conversation to a person: a ticket with a summary and a priority from sentiment.

Three roads lead here, all to `conversation_escalate`: the customer asks for a person, the
model calls transfer_to_human_agents (`escalation_from_tool`), or the customer's messages
stay very negative for two turns. A conversation gets one active ticket: escalating again
while it is being worked points the customer to the same ticket number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from assistant.nlu.sentiment import Sentiment, priority_from_sentiment
from chat.models import Conversation, Message, PendingAction
from supportbot.celery import app
from supportbot.errors import NotFound
from supportbot.services import task_enqueue_on_commit
from tickets.handoff import AI_SUMMARY_LABEL, handoff_assistant_summary_note
from tickets.models import Ticket
from tickets.selectors import ticket_active_for_conversation
from tickets.services import ticket_create_from_conversation
from tickets.staff_services import SUMMARY_TASK

if TYPE_CHECKING:
    from assistant.tools import ToolContext

SUMMARY_MESSAGES = 8
HANDOFF_MODEL = "handoff"


@dataclass
class Escalation:
    ticket: Ticket
    created: bool
    messages: list[Message] = field(default_factory=list)


def _hours(ticket: Ticket) -> str:
    hours = (ticket.sla_due_at - ticket.created_at).total_seconds() / 3600
    return f"{hours:.0f} hour{'s' if round(hours) != 1 else ''}"


@transaction.atomic
def conversation_escalate(
    *, conversation: Conversation, reason: str, summary_hint: str = "", announce: bool = True
) -> Escalation:
    """Open (or reuse) the conversation's ticket and mark the conversation escalated.

    With `announce`, an assistant message telling the customer the ticket number is stored
    and returned; the transfer tool passes False because the model tells the customer itself.
    """
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    ticket = ticket_active_for_conversation(conversation=locked)
    created = ticket is None
    if ticket is None:
        user_messages = Message.objects.filter(conversation=locked, role=Message.Role.USER)
        worst = user_messages.order_by("-created_at")[:SUMMARY_MESSAGES].aggregate(worst=Min("sentiment_score"))[
            "worst"
        ]
        first = user_messages.order_by("created_at").values_list("text", flat=True).first() or "Chat conversation"
        # The ticket's urgency follows the customer's worst recent mood, not just the last line.
        score = float(worst) if worst is not None else 0.0
        sentiment = Sentiment(label="negative" if score < 0 else "neutral", score=score)
        summary = conversation_summary(conversation=locked, reason=reason, hint=summary_hint)
        ticket = ticket_create_from_conversation(
            conversation=locked,
            subject=first[:120],
            summary=summary,
            priority=priority_from_sentiment(sentiment),
            category=locked.intent,
        )
        locked.summary = summary
        # The extractive summary above is instant, so staff never open an empty ticket; the job
        # on the llm queue replaces it (with the LLM's when one is configured) after commit —
        # the customer's escalation never waits for a provider.
        task_enqueue_on_commit(app.signature(SUMMARY_TASK), ticket.pk)
    locked.escalate()
    locked.very_negative_streak = 0
    locked.last_activity_at = timezone.now()
    locked.save(update_fields=["status", "summary", "very_negative_streak", "last_activity_at"])
    conversation.status = locked.status
    conversation.summary = locked.summary
    messages: list[Message] = []
    if announce:
        if created:
            text = (
                f"I've passed this to our support team — your ticket number is {ticket.number}. "
                f"A person will reply here and by email, usually within {_hours(ticket)}."
            )
        else:
            text = f"Your request is already with our support team as ticket {ticket.number}; a person will reply here."
        messages.append(
            Message.objects.create(conversation=locked, role=Message.Role.ASSISTANT, text=text, model=HANDOFF_MODEL)
        )
    return Escalation(ticket=ticket, created=created, messages=messages)


@transaction.atomic
def escalation_from_tool(context: ToolContext, *, summary: str) -> dict[str, Any]:
    """The body of transfer_to_human_agents: escalate the conversation the tool runs in."""
    if context.customer is None or context.conversation_id is None:
        raise NotFound("A transfer needs an open conversation with a customer.")
    conversation = Conversation.objects.filter(pk=context.conversation_id, customer=context.customer).first()
    if conversation is None:
        raise NotFound("That conversation was not found.")
    escalation = conversation_escalate(
        conversation=conversation,
        reason="The assistant transferred the conversation.",
        summary_hint=summary,
        announce=False,
    )
    handoff_assistant_summary_note(ticket=escalation.ticket, summary=summary)
    return {
        "ticket_number": escalation.ticket.number,
        "priority": escalation.ticket.priority,
        "message": f"Transferred to a person. Tell the customer their ticket number is {escalation.ticket.number}.",
    }


def conversation_summary(*, conversation: Conversation, reason: str, hint: str = "") -> str:
    """A short extractive summary for staff: why, what the customer said, what was done."""
    lines = [f"Why escalated: {reason}"]
    if hint.strip():
        lines.append(f"{AI_SUMMARY_LABEL} {hint.strip()}")
    if conversation.intent:
        lines.append(f"Topic: {conversation.intent.replace('_', ' ')}")
    said = list(
        Message.objects.filter(conversation=conversation, role=Message.Role.USER)
        .order_by("-created_at")
        .values_list("text", flat=True)[:SUMMARY_MESSAGES]
    )
    if said:
        lines.append("Customer said (latest last):")
        lines += [f"- {text[:300]}" for text in reversed(said)]
    acted = (
        PendingAction.objects.filter(conversation=conversation)
        .order_by("created_at")
        .values_list("description", "status")
    )
    if acted:
        lines.append("Actions:")
        lines += [f"- {description} [{status}]" for description, status in acted]
    return "\n".join(lines)


def escalated_reply(*, conversation: Conversation) -> list[Message] | None:
    """While a person has the conversation, the assistant says so once and then stays quiet.

    Returns None when the ticket is no longer active: the conversation goes back to the
    assistant.
    """
    ticket = ticket_active_for_conversation(conversation=conversation)
    if ticket is None:
        Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.OPEN)
        conversation.status = Conversation.Status.OPEN
        return None
    last = (
        Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT)
        .order_by("-created_at", "-id")
        .values_list("model", "text")
        .first()
    )
    if last is not None and last[0] == HANDOFF_MODEL and "added to" in last[1]:
        return []
    return [
        Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            text=f"Your message has been added to ticket {ticket.number}. A member of our team will answer here.",
            model=HANDOFF_MODEL,
        )
    ]
