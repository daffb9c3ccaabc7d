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

from tickets.signals import StaffReplyDelivery
from whatsapp.formatting import markdown_to_whatsapp
from whatsapp.selectors import contact_for_conversation
from whatsapp.services.outbound import outbound_queue_text

if TYPE_CHECKING:
    from tickets.models import TicketEvent


def staff_reply_deliver(*, event: TicketEvent) -> StaffReplyDelivery | None:
    """Queue the public reply `event` on WhatsApp when Meta's window allows it; None when the
    conversation is not a WhatsApp one.

    Precondition: called inside ticket_reply's transaction, which holds the ticket's row lock.
    The caller (tickets.staff_services.ticket_reply, through the staff_reply_posted signal)
    stores `staff_note` on the ticket.
    """
    ticket = event.ticket
    conversation = ticket.conversation
    if conversation is None or conversation.channel != "whatsapp":
        return None
    contact = contact_for_conversation(conversation=conversation)
    if contact is None:
        return None
    if contact.in_session_window():
        name = getattr(event.author, "first_name", "") or "Cobalt Market support"
        outbound_queue_text(
            contact=contact,
            text=f"*{name}* (Cobalt Market support, ticket {ticket.number}):\n\n{markdown_to_whatsapp(event.text)}",
            conversation=conversation,
            chat_message=event.message,
        )
        return StaffReplyDelivery(sent=True)
    hours = settings.WHATSAPP_SESSION_WINDOW_HOURS
    since = f"{timesince(contact.last_inbound_at, timezone.now())} ago" if contact.last_inbound_at else "never"
    if ticket.customer.email:
        outcome = f"so this reply was emailed to {ticket.customer.email} instead."
    else:
        outcome = (
            "and the number isn't linked to an account with an email address, so the reply waits in the "
            "chat until the customer writes again."
        )
    return StaffReplyDelivery(
        sent=False,
        staff_note=(
            f"Not sent on WhatsApp: the customer last wrote from +{contact.phone} {since}, outside WhatsApp's "
            f"{hours:g}-hour customer-service window (only approved templates may be sent after it), {outcome}"
        ),
    )


def staff_reply_on_whatsapp(sender: object, *, event: TicketEvent, **kwargs: object) -> StaffReplyDelivery | None:
    """Receiver of tickets.signals.staff_reply_posted (connected in WhatsAppConfig.ready)."""
    return staff_reply_deliver(event=event)
