"""Handing a conversation to a person: a ticket with a summary and a priority from sentiment.

Three roads lead here, all to `conversation_escalate`: the customer asks for a person, the
model calls transfer_to_human_agents (`escalation_from_tool`), or the customer's messages
stay very negative for two turns. A conversation gets one active ticket: escalating again
while it is being worked points the customer to the same ticket number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
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
from tickets.models import Ticket, TicketEvent, sla_due, sla_hours
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


# What raises a ticket above what the sentiment score alone gives. VADER misses much of how
# customers vent ("wtf", "still not here!!"), and a money problem is urgent to its owner
# however calmly it is put.
_UPSET = re.compile(
    r"\b(?:wtf|wth|ffs|omg|ridiculous|unacceptable|furious|angry|pissed|scam|worst|terrible|awful|disgusting|"
    r"joke|useless|fed up|sick of|had enough)\b|!{2,}|\?{2,}|\?!|!\?",
    re.IGNORECASE,
)
_MONEY = re.compile(
    r"\b(?:charged?|charges|charging|overcharged|double|twice|refunds?|refunded|billing|billed|money|paid|payments?|"
    r"fraud|unauthori[sz]ed|stolen card)\b",
    re.IGNORECASE,
)
_URGENT = re.compile(r"\b(?:urgent|urgently|asap|emergency|immediately|right now|today|tonight)\b", re.IGNORECASE)
_DELIVERY = re.compile(
    r"\b(?:never (?:came|arrived|got)|not (?:arrived|here|received|delivered)|hasn'?t (?:arrived|come)|lost|missing|"
    r"damaged|broken|wrong (?:item|size|order))\b",
    re.IGNORECASE,
)
_PRIORITIES = ["low", "medium", "high", "urgent"]
# Words that say what a problem is about; a conversation without any gets asked for its reason.
_PROBLEM = re.compile(
    r"\b(?:order|refund|charge|charged|payment|paid|return|exchange|deliver|delivery|package|parcel|account|"
    r"broken|damaged|missing|wrong|late|cancel|ship|shipping|address|card|invoice|password|login|item|size|"
    r"arrived?|came|#?w?\d{7})",
    re.IGNORECASE,
)


def says_what_about(texts: list[str]) -> bool:
    """Do the customer's messages say what their problem is about (an order, a payment, …)?"""
    return any(_PROBLEM.search(text) for text in texts)


def _shouting(text: str) -> bool:
    return sum(1 for word in re.findall(r"[A-Za-z]{3,}", text) if word.isupper()) >= 2


def escalation_priority(*, sentiment_score: float, texts: list[str]) -> str:
    """The ticket priority: the sentiment's, raised by anger, money, urgency and delivery problems.

    Upset and money each make it at least high; both together, or anything urgent that is
    also upset or about money, make it urgent; a delivery problem is at least medium.
    """
    joined = " \n ".join(text for text in texts if text)
    upset = bool(_UPSET.search(joined)) or _shouting(joined) or sentiment_score <= -0.4
    money = bool(_MONEY.search(joined))
    urgent = bool(_URGENT.search(joined))
    floor = "low"
    if _DELIVERY.search(joined):
        floor = "medium"
    if upset or money or urgent:
        floor = "high"
    if (upset and money) or (urgent and (upset or money)):
        floor = "urgent"
    base = priority_from_sentiment(
        Sentiment(label="negative" if sentiment_score < 0 else "neutral", score=sentiment_score)
    )
    return max(base, floor, key=_PRIORITIES.index)


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
    recent: list[str] = []
    if ticket is None:
        user_messages = Message.objects.filter(conversation=locked, role=Message.Role.USER)
        worst = user_messages.order_by("-created_at")[:SUMMARY_MESSAGES].aggregate(worst=Min("sentiment_score"))[
            "worst"
        ]
        first = user_messages.order_by("created_at").values_list("text", flat=True).first() or "Chat conversation"
        recent = list(user_messages.order_by("-created_at").values_list("text", flat=True)[:SUMMARY_MESSAGES])
        # The ticket's urgency follows the customer's worst recent mood, not just the last line,
        # and what the problem is about.
        score = float(worst) if worst is not None else 0.0
        summary = conversation_summary(conversation=locked, reason=reason, hint=summary_hint)
        ticket = ticket_create_from_conversation(
            conversation=locked,
            subject=first[:120],
            summary=summary,
            priority=escalation_priority(sentiment_score=score, texts=[*recent, reason, summary_hint]),
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
            if not says_what_about([*recent, summary_hint]):
                # Nobody waits on a question before the ticket opens; the answer goes to it and
                # can still raise its priority (escalated_reply).
                text += (
                    " So they can start right away, tell me in a sentence what it's about (for example “my refund "
                    "hasn't arrived”) — it goes straight to your ticket."
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
    raised = _priority_raise_from_latest(ticket=ticket, conversation=conversation)
    if last is not None and last[0] == HANDOFF_MODEL and "added to" in last[1] and raised is None:
        return []
    text = f"Your message has been added to ticket {ticket.number}. A member of our team will answer here."
    if raised is not None:
        hours = sla_hours(raised.priority)
        text += (
            f" From what you've described, I've moved it up: a person will reply within {hours:.0f} "
            f"hour{'s' if round(hours) != 1 else ''}."
        )
    return [
        Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, text=text, model=HANDOFF_MODEL)
    ]


@transaction.atomic
def _priority_raise_from_latest(*, ticket: Ticket, conversation: Conversation) -> Ticket | None:
    """Raise the ticket's priority when the customer's latest message warrants more than it has.

    A request for a person often comes first and the reason after ("agent pls", then "i was
    charged twice"), so the reason must still be able to move the ticket up. Never lowers it.
    Returns the raised ticket, or None.
    """
    latest = (
        Message.objects.filter(conversation=conversation, role=Message.Role.USER)
        .order_by("-created_at", "-id")
        .values("text", "sentiment_score")
        .first()
    )
    if latest is None:
        return None
    wanted = escalation_priority(sentiment_score=float(latest["sentiment_score"] or 0.0), texts=[latest["text"]])
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if _PRIORITIES.index(wanted) <= _PRIORITIES.index(locked.priority):
        return None
    clock_started = locked.sla_due_at - timedelta(hours=sla_hours(locked.priority))
    TicketEvent.objects.create(
        ticket=locked,
        kind=TicketEvent.Kind.PRIORITY_CHANGE,
        author=None,
        old_value=locked.priority,
        new_value=wanted,
        text="Raised automatically from what the customer wrote.",
    )
    locked.priority = wanted
    # The promise is kept from when the clock started, now with the new priority's hours.
    locked.sla_due_at = max(sla_due(priority=wanted, clock_started=clock_started), timezone.now())
    locked.save(update_fields=["priority", "sla_due_at"])
    return locked
