"""Writes staff make on tickets: replies, notes, assignment, priority, status, resolution.

Every change is recorded as a TicketEvent (who, when, old → new) in the same transaction as
the change, so the history never disagrees with the ticket. Each service locks the ticket row
(select_for_update): two agents acting on one ticket at once are applied one after the other
and both recorded, rather than one silently overwriting the other.

The SLA clock ("next answer due")
---------------------------------
`sla_due_at` is when the customer is owed the next answer: TICKET_SLA_HOURS[priority] after
the clock started (the ticket was opened, or the customer last wrote). A public reply stops
the clock (status "waiting on customer"); a customer reply restarts it (status "open"). A
ticket is breached when its clock runs (new/open) and `sla_due_at` has passed
(`Ticket.sla_breached`, `staff_selectors.sla_breached_q`). The hours come from
`tickets.models.sla_hours`, the one place that reads TICKET_SLA_HOURS.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from chat.models import Conversation, Message
from supportbot.celery import app
from supportbot.errors import InvalidInput, RuleViolation
from supportbot.services import task_enqueue_on_commit
from tickets.models import Ticket, TicketEvent, sla_due, sla_hours
from tickets.services import SUMMARY_REQUESTED
from tickets.signals import StaffReplyDelivery, staff_reply_posted

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from chat.models import Message

REPLY_MAX_CHARS = 10_000
# The chat marks staff messages with this `Message.model` value (the assistant's are "offline"
# or an LLM model name), so the transcript, the portal and analytics can tell them apart.
STAFF_MODEL = "staff"
HANDBACK_MODEL = "handoff"
# Queued by name: tickets.tasks imports the services these tasks call.
SEND_REPLY_TASK = "tickets.send_ticket_reply"
SUMMARY_TASK = "tickets.summarize_ticket"


def _clean_text(text: str, *, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput(f"The {what} is empty; type something to send.")
    if len(text) > REPLY_MAX_CHARS:
        raise InvalidInput(f"The {what} is too long ({len(text)} characters); keep it under {REPLY_MAX_CHARS}.")
    return text


def _locked(ticket_id: int) -> Ticket:
    ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
    if ticket is None:
        raise InvalidInput(f"Ticket {ticket_id} does not exist.")
    return ticket


def _require_staff(user: AbstractBaseUser, *, role: str = "do this") -> None:
    if not (user.is_active and getattr(user, "is_staff", False)):
        raise RuleViolation(f"Only active staff accounts can {role}.")


def _event(ticket: Ticket, *, kind: str, author: AbstractBaseUser | None, **fields: Any) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket, kind=kind, author_id=author.pk if author is not None else None, **fields
    )


def _user_label(user: AbstractBaseUser | None) -> str:
    if user is None:
        return ""
    return str(getattr(user, "get_username", lambda: "")())[:150]


@transaction.atomic
def ticket_reply(*, ticket_id: int, author: AbstractBaseUser, text: str) -> TicketEvent:
    """A public reply: stored on the ticket, posted into the chat, emailed to the customer.

    The email is sent by a Celery task queued after commit (`tickets.tasks.send_ticket_reply`), so
    a rolled-back reply is never mailed, and a broker outage leaves an "unsent" FailedTask instead
    of failing the reply that is already saved. Replying stops the SLA clock (waiting on customer).
    """
    _require_staff(author, role="reply to customers")
    text = _clean_text(text, what="reply")
    ticket = _locked(ticket_id)
    message = None
    if ticket.conversation_id is not None:
        message = Message.objects.create(
            conversation_id=ticket.conversation_id, role=Message.Role.ASSISTANT, text=text, model=STAFF_MODEL
        )
    event = _event(ticket, kind=TicketEvent.Kind.PUBLIC_REPLY, author=author, text=text, message=message)
    if ticket.is_active:
        _set_status(ticket, status=Ticket.Status.WAITING_ON_CUSTOMER, actor=author)
    if ticket.assignee_id is None:
        # Whoever answers first owns the ticket; the customer's next message goes to them.
        _set_assignee(ticket, assignee=author, actor=author)
    ticket.save()

    # A channel may deliver the reply itself (WhatsApp while Meta's window allows it) instead of
    # email; when it can't, the ticket notes why and the reply is emailed.
    for _receiver, delivery in staff_reply_posted.send(sender=TicketEvent, event=event):
        if not isinstance(delivery, StaffReplyDelivery):
            continue
        if delivery.sent:
            return event
        if delivery.staff_note:
            ticket_note(ticket_id=ticket.pk, author=author, text=delivery.staff_note)

    task_enqueue_on_commit(app.signature(SEND_REPLY_TASK), event.pk)
    return event


@transaction.atomic
def ticket_note(*, ticket_id: int, author: AbstractBaseUser, text: str) -> TicketEvent:
    """An internal note: staff only — not emailed, not in the chat, not on My tickets."""
    _require_staff(author, role="write internal notes")
    text = _clean_text(text, what="note")
    ticket = _locked(ticket_id)
    event = _event(ticket, kind=TicketEvent.Kind.INTERNAL_NOTE, author=author, text=text)
    ticket.save(update_fields=["updated_at"])
    return event


@transaction.atomic
def ticket_customer_reply(*, ticket_id: int, text: str, message: Message | None = None) -> TicketEvent:
    """The customer wrote on the ticket (from the chat while handed off, or from My tickets).

    Restarts the SLA clock and reopens a ticket that was waiting on the customer or resolved.
    """
    text = _clean_text(text, what="message")
    ticket = _locked(ticket_id)
    author = ticket.customer.user if ticket.customer.user_id else None
    event = _event(ticket, kind=TicketEvent.Kind.CUSTOMER_REPLY, author=author, text=text, message=message)
    if ticket.status != Ticket.Status.CLOSED:
        if ticket.status != Ticket.Status.OPEN and ticket.status != Ticket.Status.NEW:
            _set_status(ticket, status=Ticket.Status.OPEN, actor=author)
        ticket.sla_due_at = sla_due(priority=ticket.priority, clock_started=event.created_at)
    ticket.save()
    return event


@transaction.atomic
def ticket_assign(*, ticket_id: int, actor: AbstractBaseUser, assignee: AbstractBaseUser | None) -> Ticket:
    """Give the ticket to `assignee` (an active staff user) or unassign it (None)."""
    _require_staff(actor, role="assign tickets")
    if assignee is not None and not (assignee.is_active and getattr(assignee, "is_staff", False)):
        raise InvalidInput(
            f"{_user_label(assignee)} is not an active staff account, so tickets can't be assigned to them."
        )
    ticket = _locked(ticket_id)
    _set_assignee(ticket, assignee=assignee, actor=actor)
    ticket.save()
    return ticket


@transaction.atomic
def ticket_change_priority(*, ticket_id: int, actor: AbstractBaseUser, priority: str) -> Ticket:
    """Change the priority; the running SLA clock is re-measured with the new priority's hours."""
    _require_staff(actor, role="change ticket priority")
    hours = sla_hours(priority)  # validates before anything is locked
    ticket = _locked(ticket_id)
    if ticket.priority == priority:
        return ticket
    clock_started = ticket.sla_due_at - timedelta(hours=sla_hours(ticket.priority))
    _event(ticket, kind=TicketEvent.Kind.PRIORITY_CHANGE, author=actor, old_value=ticket.priority, new_value=priority)
    ticket.priority = priority
    ticket.sla_due_at = clock_started + timedelta(hours=hours)
    ticket.save()
    return ticket


@transaction.atomic
def ticket_change_status(*, ticket_id: int, actor: AbstractBaseUser, status: str) -> Ticket:
    """Move the ticket to `status`. Resolving or closing hands the chat back to the assistant."""
    _require_staff(actor, role="change ticket status")
    if status not in Ticket.Status.values:
        raise InvalidInput(f"Unknown ticket status {status!r}; expected one of {', '.join(Ticket.Status.values)}.")
    ticket = _locked(ticket_id)
    if ticket.status == status:
        return ticket
    was_active = ticket.is_active
    _set_status(ticket, status=status, actor=actor)
    if status == Ticket.Status.RESOLVED:
        ticket.resolve()
    elif status in Ticket.ACTIVE_STATUSES:
        ticket.resolved_at = None
        if not was_active:
            ticket.sla_due_at = sla_due(priority=ticket.priority, clock_started=timezone.now())
    ticket.save()
    if was_active and not ticket.is_active:
        _hand_back(ticket)
        # The final summary covers the whole case, staff's part included (llm queue, after commit).
        task_enqueue_on_commit(app.signature(SUMMARY_TASK), ticket.pk)
    return ticket


def ticket_resolve(*, ticket_id: int, actor: AbstractBaseUser) -> Ticket:
    """Resolve: the customer is told in the chat and the assistant answers again."""
    return ticket_change_status(ticket_id=ticket_id, actor=actor, status=Ticket.Status.RESOLVED)


@transaction.atomic
def ticket_summary_request(*, ticket_id: int, actor: AbstractBaseUser) -> TicketEvent:
    """Ask for a fresh summary: the llm-queue job writes it after commit (tickets.tasks.summarize_ticket).

    The request is recorded as a SUMMARY event with new_value "requested", which the ticket page
    reads to say a new summary is on the way until the job's own event follows it.
    """
    _require_staff(actor, role="regenerate ticket summaries")
    ticket = _locked(ticket_id)
    event = _event(ticket, kind=TicketEvent.Kind.SUMMARY, author=actor, new_value=SUMMARY_REQUESTED)
    task_enqueue_on_commit(app.signature(SUMMARY_TASK), ticket.pk)
    return event


# --- helpers: the caller holds the ticket's row lock and saves it -------------------------


def _set_status(ticket: Ticket, *, status: str, actor: AbstractBaseUser | None) -> None:
    if ticket.status == status:
        return
    _event(ticket, kind=TicketEvent.Kind.STATUS_CHANGE, author=actor, old_value=ticket.status, new_value=status)
    ticket.status = status


def _set_assignee(ticket: Ticket, *, assignee: AbstractBaseUser | None, actor: AbstractBaseUser) -> None:
    if ticket.assignee_id == (assignee.pk if assignee is not None else None):
        return
    _event(
        ticket,
        kind=TicketEvent.Kind.ASSIGNEE_CHANGE,
        author=actor,
        old_value=_user_label(ticket.assignee) if ticket.assignee_id else "",
        new_value=_user_label(assignee),
    )
    ticket.assignee = assignee  # type: ignore[assignment]
    if assignee is not None and ticket.status == Ticket.Status.NEW:
        _set_status(ticket, status=Ticket.Status.OPEN, actor=actor)


def _hand_back(ticket: Ticket) -> None:
    """The ticket left the active statuses: the assistant takes the conversation back.

    Only when no other ticket on the conversation is still being worked.
    """
    if ticket.conversation_id is None:
        return
    conversation = Conversation.objects.select_for_update().filter(pk=ticket.conversation_id).first()
    if conversation is None or conversation.status != Conversation.Status.ESCALATED:
        return
    still_active = Ticket.objects.filter(conversation_id=conversation.pk, status__in=Ticket.ACTIVE_STATUSES).exists()
    if still_active:
        return
    conversation.status = Conversation.Status.OPEN
    conversation.last_activity_at = timezone.now()
    conversation.save(update_fields=["status", "last_activity_at"])
    verb = "resolved" if ticket.status == Ticket.Status.RESOLVED else "closed"
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        model=HANDBACK_MODEL,
        text=f"Ticket {ticket.number} has been {verb} by our support team. I'm back — ask me anything else you need.",
    )
