"""Writes from My tickets that the staff services don't cover: the customer's CSAT rating.

(Customer replies go through `tickets.staff_services.ticket_customer_reply`.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from supportbot.errors import InvalidInput, NotFound, RuleViolation
from tickets.models import Ticket

if TYPE_CHECKING:
    from orders.models import Customer

RATABLE_STATUSES = (Ticket.Status.RESOLVED, Ticket.Status.CLOSED)
CSAT_COMMENT_MAX = 1000


@transaction.atomic
def ticket_rate(*, ticket_id: int, customer: Customer, score: int, comment: str = "") -> Ticket:
    """Record the customer's satisfaction (1–5) with a resolved ticket, once.

    The row lock makes a double submit rate once: the second sees the stored score.
    """
    ticket = Ticket.objects.select_for_update().filter(pk=ticket_id, customer=customer).first()
    if ticket is None:
        raise NotFound("That ticket was not found.")
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidInput("Please choose a rating from 1 (poor) to 5 (excellent).")
    comment = comment.strip()
    if len(comment) > CSAT_COMMENT_MAX:
        raise InvalidInput(f"Please keep the comment under {CSAT_COMMENT_MAX:,} characters.")
    if ticket.status not in RATABLE_STATUSES:
        raise RuleViolation("You can rate this ticket once it has been resolved.")
    if ticket.csat_score is not None:
        raise RuleViolation("You have already rated this ticket — thank you!")
    ticket.csat_score = score
    ticket.csat_comment = comment
    ticket.save(update_fields=["csat_score", "csat_comment", "updated_at"])
    return ticket
