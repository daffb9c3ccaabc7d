"""Staff replies on a WhatsApp conversation: sent on WhatsApp inside Meta's window, else emailed.

Meta lets a business send free-form messages only within the customer-service window
(WHATSAPP_SESSION_WINDOW_HOURS, 24 h) after the customer's last message; past it only
approved templates go through. So `staff_reply_deliver`, called by
`tickets.staff_services.ticket_reply` for a ticket whose conversation came from WhatsApp,
queues the reply on WhatsApp while the window is open; otherwise it leaves the reply to the
ticket's usual email and writes an internal note on the ticket saying why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone
from django.utils.timesince import timesince

from whatsapp.formatting import markdown_to_whatsapp
from whatsapp.selectors import contact_for_conversation
from whatsapp.services.outbound import outbound_queue_text

if TYPE_CHECKING:
    from tickets.models import TicketEvent


def staff_reply_deliver(*, event: TicketEvent) -> bool:
    """True when the public reply `event` was queued on WhatsApp (then it must not be emailed).

    Precondition: called inside ticket_reply's transaction, which holds the ticket's row lock.
    """
    from tickets.staff_services import ticket_note

    ticket = event.ticket
    conversation = ticket.conversation
    if conversation is None:
        return False
    contact = contact_for_conversation(conversation=conversation)
    if contact is None:
        return False
    if contact.in_session_window():
        name = getattr(event.author, "first_name", "") or "Cobalt Market support"
        outbound_queue_text(
            contact=contact,
            text=f"*{name}* (Cobalt Market support, ticket {ticket.number}):\n\n{markdown_to_whatsapp(event.text)}",
            conversation=conversation,
            chat_message=event.message,
        )
        return True
    hours = settings.WHATSAPP_SESSION_WINDOW_HOURS
    since = f"{timesince(contact.last_inbound_at, timezone.now())} ago" if contact.last_inbound_at else "never"
    if ticket.customer.email:
        outcome = f"so this reply was emailed to {ticket.customer.email} instead."
    else:
        outcome = (
            "and the number isn't linked to an account with an email address, so the reply waits in the "
            "chat until the customer writes again."
        )
    assert event.author is not None, "ticket_reply requires a staff author"
    ticket_note(
        ticket_id=ticket.pk,
        author=event.author,
        text=(
            f"Not sent on WhatsApp: the customer last wrote from +{contact.phone} {since}, outside WhatsApp's "
            f"{hours:g}-hour customer-service window (only approved templates may be sent after it), {outcome}"
        ),
    )
    return False
