"""Human handoff: while a person works the ticket, the customer's chat messages go to them.

`assistant.turn.chat_turn` consults `handoff_route_customer_message` right after storing
the customer's message. When the conversation is escalated and its active ticket has an
assignee, the message is recorded on the ticket (a customer reply event) and the assistant
stays silent, except for one notice per ticket that a person will answer. Staff replies reach
the chat from `staff_services.ticket_reply`; resolving the ticket hands the conversation back
(`staff_services._hand_back`).

What the model writes when it transfers a conversation is its own account, not a checked fact:
it goes on the ticket as a note under AI_SUMMARY_LABEL (`handoff_assistant_summary_note`), and the
escalation summary quotes it under the same label.

Escalated but not yet assigned is left to the chat's own escalation flow
(`assistant.escalation.escalated_reply`), which tells the customer the ticket number.
"""

from __future__ import annotations

from django.db import transaction

from chat.models import Conversation, Message
from tickets.models import Ticket, TicketEvent
from tickets.staff_services import HANDBACK_MODEL, ticket_customer_reply

AI_SUMMARY_LABEL = "The assistant's summary (written by the AI; may be wrong):"


def handoff_assistant_summary_note(*, ticket: Ticket, summary: str) -> TicketEvent | None:
    """The model's transfer summary as an internal note by no one (the system), labelled as the AI's words."""
    summary = summary.strip()
    if not summary:
        return None
    return TicketEvent.objects.create(
        ticket=ticket, kind=TicketEvent.Kind.INTERNAL_NOTE, author=None, text=f"{AI_SUMMARY_LABEL} {summary}"
    )


def handoff_route_customer_message(*, conversation: Conversation, text: str) -> bool:
    """True when a person has the conversation and the message went to their ticket.

    Precondition: the customer's message is already stored in the conversation (the newest
    customer message with this text is linked to the ticket event). On True the caller must
    not let the assistant answer; any notice to the customer has been stored here.
    """
    # Checked before opening a transaction: almost every turn is not escalated, and an empty
    # BEGIN/COMMIT is still two round trips.
    if conversation.status != Conversation.Status.ESCALATED:
        return False
    return _route_to_ticket(conversation=conversation, text=text)


@transaction.atomic
def _route_to_ticket(*, conversation: Conversation, text: str) -> bool:
    ticket = (
        Ticket.objects.filter(conversation=conversation, status__in=Ticket.ACTIVE_STATUSES, assignee__isnull=False)
        .select_related("assignee")
        .order_by("-created_at")
        .first()
    )
    if ticket is None:
        return False
    message = (
        Message.objects.filter(conversation=conversation, role=Message.Role.USER, text=text.strip())
        .order_by("-created_at", "-id")
        .first()
    )
    already_told = TicketEvent.objects.filter(
        ticket=ticket, kind=TicketEvent.Kind.CUSTOMER_REPLY, message__isnull=False
    ).exists()
    ticket_customer_reply(ticket_id=ticket.pk, text=text, message=message)
    if not already_told:
        assignee = ticket.assignee
        name = (assignee.first_name if assignee is not None else "") or "A member of our support team"
        Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            model=HANDBACK_MODEL,
            text=f"{name} is handling ticket {ticket.number} and will answer you here. I'll stay out of the way until then.",
        )
    return True
