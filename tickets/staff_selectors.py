"""Reads for staff: SLA state, the ticket page's transcript and customer context."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from chat.models import Message, PendingAction
from orders.models import Order
from tickets.analytics import intent_name, tool_name
from tickets.models import Ticket, TicketEvent
from tickets.services import SUMMARY_REQUESTED
from tickets.staff_services import STAFF_MODEL


def sla_breached_q() -> Q:
    """Tickets whose SLA clock runs (new/open) past the due time."""
    return Q(status__in=Ticket.SLA_CLOCK_STATUSES, sla_due_at__lt=timezone.now())


@dataclass
class SlaState:
    state: str  # "breached", "due", "waiting" or "done": a CSS hook and a test handle
    text: str  # e.g. "Breached 2 h ago", "Due in 5 h", "Paused (waiting)"


def _span(delta: timedelta) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def ticket_sla_state(*, ticket: Ticket, now: datetime | None = None) -> SlaState:
    """Where the ticket stands against its promised reply time, in words staff scan."""
    now = now or timezone.now()
    if ticket.status == Ticket.Status.WAITING_ON_CUSTOMER:
        return SlaState("waiting", "Paused (waiting)")
    if not ticket.is_active:
        return SlaState("done", ticket.get_status_display())
    left = ticket.sla_due_at - now
    if left.total_seconds() < 0:
        return SlaState("breached", f"Breached {_span(left)} ago")
    return SlaState("due", f"Due in {_span(left)}")


def tickets_sla_breached(queryset: QuerySet[Ticket]) -> QuerySet[Ticket]:
    return queryset.filter(sla_breached_q())


@dataclass
class TranscriptEntry:
    """One line of the ticket page's transcript: a chat message, with what hangs off it."""

    message: Any
    actions: list[Any] = field(default_factory=list)
    from_staff: bool = False
    intent_name: str = ""  # the answer's intent in words ("Track order")
    tool_names: list[str] = field(default_factory=list)  # the tools it called, in words


def ticket_transcript(*, ticket: Ticket) -> list[TranscriptEntry]:
    """The whole chat of the ticket's conversation, oldest first, in three queries.

    Messages carry their tool calls/results and citations as JSON; pending actions are
    attached to the assistant message that proposed them.
    """
    if ticket.conversation_id is None:
        return []
    messages = (
        Message.objects.filter(conversation_id=ticket.conversation_id)
        .prefetch_related(Prefetch("actions", queryset=PendingAction.objects.order_by("created_at", "id")))
        .order_by("created_at", "id")
    )
    return [
        TranscriptEntry(
            message=message,
            actions=list(message.actions.all()),
            from_staff=message.model == STAFF_MODEL,
            intent_name=intent_name(message.intent) if message.intent else "",
            tool_names=[tool_name(str(call.get("name", ""))) for call in message.tool_calls or []],
        )
        for message in messages
    ]


def ticket_events(*, ticket: Ticket) -> QuerySet[TicketEvent]:
    return ticket.events.select_related("author").order_by("created_at", "id")


@dataclass
class CustomerContext:
    customer: Any
    orders: list[Any]
    payment_methods: list[dict[str, str]]
    open_tickets: int


def mask_payment_method(method: Any) -> str:
    """A payment method as staff may see it: never more than the last four digits."""
    if method.source == "credit_card":
        brand = (method.brand or "card").title()
        return f"{brand} •••• {method.last_four}" if method.last_four else brand
    if method.source == "paypal":
        return "PayPal account"
    balance = f" (balance ${method.balance})" if method.balance is not None else ""
    return f"Gift card •••• {method.payment_method_id[-4:]}{balance}"


def customer_context(*, ticket: Ticket, order_limit: int = 10) -> CustomerContext:
    """The ticket customer's recent orders (with items) and masked payment methods."""
    customer = ticket.customer
    orders = list(
        Order.objects.filter(customer=customer)
        .prefetch_related("items", "fulfillments")
        .order_by("-created_at")[:order_limit]
    )
    methods = [
        {"label": mask_payment_method(method), "source": method.get_source_display()}
        for method in customer.payment_methods.all()
    ]
    open_tickets = Ticket.objects.filter(customer=customer, status__in=Ticket.ACTIVE_STATUSES).count()
    return CustomerContext(customer=customer, orders=orders, payment_methods=methods, open_tickets=open_tickets)


def ticket_summary_pending(*, ticket: Ticket) -> TicketEvent | None:
    """Staff's latest request for a new summary, while the job has not stored one since (else None)."""
    latest = (
        TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.SUMMARY)
        .select_related("author")
        .order_by("-created_at", "-id")
        .first()
    )
    return latest if latest is not None and latest.new_value == SUMMARY_REQUESTED else None
