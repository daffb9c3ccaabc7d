"""Writes of the tickets app."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from chat.models import Conversation
from orders.models import Customer
from supportbot.errors import InvalidInput, RuleViolation
from tickets.models import Ticket, TicketEvent, sla_due

if TYPE_CHECKING:
    from chat.models import Conversation

SUBJECT_MAX = 200


def _next_number() -> str:
    # A sequence, not max(number)+1: two escalations committing at once must not collide,
    # and a rolled-back ticket leaving a gap in the numbering is harmless.
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval('tickets_ticket_number_seq')")
        (value,) = cursor.fetchone()
    return f"T-{value}"


@transaction.atomic
def ticket_create_from_conversation(
    *,
    conversation: Conversation,
    subject: str,
    summary: str,
    priority: str,
    category: str = "",
) -> Ticket:
    """Open a ticket for the conversation's customer, linked to the conversation.

    The caller decides whether a ticket is needed (see assistant.escalation, which
    reuses an active ticket instead of opening a second one).

    A customer may have TICKETS_MAX_OPEN_PER_CUSTOMER active tickets; past it, RuleViolation
    tells them to reply on their latest open ticket instead. Refused rather than folded into
    that ticket: a ticket follows one conversation (staff replies land there), so a request
    silently appended to another conversation's ticket would be answered where the customer
    isn't looking, while a reply under My tickets reaches the same people in the right thread.
    Staff are spared a flood of tickets from one account (a script, or a frustrated customer
    opening chat after chat), and nothing the customer wrote is lost: the chat keeps it.
    """
    # Row lock on the customer: two escalations at once must not both pass the cap.
    Customer.objects.select_for_update().filter(pk=conversation.customer_id).first()
    open_tickets = Ticket.objects.filter(customer_id=conversation.customer_id, status__in=Ticket.ACTIVE_STATUSES)
    if open_tickets.count() >= settings.TICKETS_MAX_OPEN_PER_CUSTOMER:
        latest = open_tickets.order_by("-created_at").values_list("number", flat=True).first()
        raise RuleViolation(
            f"You already have {settings.TICKETS_MAX_OPEN_PER_CUSTOMER} open support tickets, and our team is working "
            f"on them. To add something, reply on your latest ticket, {latest}, under My tickets — "
            "a new one opens once one of them is resolved.",
            code="too_many_open_tickets",
        )
    subject = " ".join(subject.split())
    if not subject:
        raise InvalidInput("A ticket needs a subject.")
    if priority not in Ticket.Priority.values:
        raise InvalidInput(
            f"Unknown ticket priority {priority!r}; expected one of {', '.join(Ticket.Priority.values)}."
        )
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1].rstrip() + "…"
    now = timezone.now()
    return Ticket.objects.create(
        number=_next_number(),
        customer_id=conversation.customer_id,
        conversation=conversation,
        subject=subject,
        summary=summary,
        priority=priority,
        category=category[:60],
        status=Ticket.Status.NEW,
        sla_due_at=sla_due(priority=priority, clock_started=now),
    )


# TicketEvent(kind=SUMMARY).new_value: who wrote the summary, or that staff asked for a new one.
SUMMARY_REQUESTED = "requested"


@transaction.atomic
def ticket_summary_store(*, ticket_id: int, summary: str, source: str, generated_since: datetime) -> Ticket | None:
    """Store a generated summary on the ticket and its conversation, recorded as a system event.

    Two jobs for one ticket (escalation, then resolve) may finish out of order; a summary made
    from the conversation as it was at `generated_since` is dropped when one made from a later
    state is already stored, so the ticket never goes back to knowing less.
    """
    summary = summary.strip()
    if not summary:
        raise InvalidInput("The generated summary is empty.")
    ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
    if ticket is None:
        return None
    newer = (
        TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.SUMMARY, created_at__gt=generated_since)
        .exclude(new_value=SUMMARY_REQUESTED)
        .exists()
    )
    if newer:
        return ticket
    ticket.summary = summary
    ticket.save(update_fields=["summary", "updated_at"])
    if ticket.conversation_id is not None:
        Conversation.objects.filter(pk=ticket.conversation_id).update(summary=summary)
    # Dated when generation started (the conversation it reflects), which is what the check above
    # compares: the summary of the later conversation wins whichever job finishes last.
    TicketEvent.objects.create(
        ticket=ticket, kind=TicketEvent.Kind.SUMMARY, author=None, new_value=source, created_at=generated_since
    )
    return ticket
