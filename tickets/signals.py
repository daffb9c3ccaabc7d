"""Signals the tickets app sends to the channels above it (which tickets never imports).

`staff_reply_posted(event=TicketEvent)`: a staff member's public reply was stored, inside
ticket_reply's transaction (which holds the ticket's row lock). A channel that delivers it itself
(WhatsApp, inside Meta's customer-service window) returns a StaffReplyDelivery; a receiver with
nothing to do for this conversation returns None. Without a delivery the reply is emailed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.dispatch import Signal

staff_reply_posted = Signal()


@dataclass(frozen=True)
class StaffReplyDelivery:
    """Whether the channel sent the reply (then it is not emailed), and if not, an internal note
    telling staff why (stored on the ticket)."""

    sent: bool
    staff_note: str = ""
