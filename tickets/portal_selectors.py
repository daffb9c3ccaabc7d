"""Reads for My tickets: only the signed-in customer's tickets, only what a customer may see."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from tickets.models import Ticket, TicketEvent

if TYPE_CHECKING:
    from orders.models import Customer


def tickets_for_customer(*, customer: Customer) -> QuerySet[Ticket]:
    return Ticket.objects.filter(customer=customer).order_by("-created_at", "-id")


def ticket_for_customer(*, customer: Customer, number: str) -> Ticket | None:
    """The customer's ticket `number`; None for a missing ticket or someone else's (a plain 404)."""
    return Ticket.objects.filter(customer=customer, number=number).first()


def ticket_public_thread(*, ticket: Ticket) -> list[TicketEvent]:
    """Staff public replies and the customer's own replies, oldest first — never internal notes."""
    return list(
        TicketEvent.objects.filter(ticket=ticket, kind__in=TicketEvent.CUSTOMER_VISIBLE_KINDS)
        .select_related("author")
        .order_by("created_at", "id")
    )
