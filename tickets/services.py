"""Writes of the tickets app."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from supportbot.errors import InvalidInput
from tickets.models import Ticket

if TYPE_CHECKING:
    from chat.models import Conversation

SUBJECT_MAX = 200


def ticket_sla_due_at(*, priority: str, start: datetime) -> datetime:
    """When the first answer is due for a ticket of `priority` opened at `start` (TICKET_SLA_HOURS)."""
    try:
        hours = settings.TICKET_SLA_HOURS[priority]
    except KeyError:
        raise InvalidInput(f"Unknown ticket priority {priority!r}; expected one of {', '.join(Ticket.Priority.values)}.") from None
    return start + timedelta(hours=hours)


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

    The caller decides whether a ticket is needed (see chat.services.escalation, which
    reuses an active ticket instead of opening a second one).
    """
    subject = " ".join(subject.split())
    if not subject:
        raise InvalidInput("A ticket needs a subject.")
    if priority not in Ticket.Priority.values:
        raise InvalidInput(f"Unknown ticket priority {priority!r}; expected one of {', '.join(Ticket.Priority.values)}.")
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
        sla_due_at=ticket_sla_due_at(priority=priority, start=now),
    )
