"""Data rights: export everything about a customer; erase them while keeping the books.

`customer_data_export` gathers every row that refers to the customer (profile, login, payment
methods, orders with items/shipments/payments, carts, restock subscriptions and emails,
conversations with messages, actions and feedback, tool audit rows, tickets with their full
history) as one JSON-ready dict.

`customer_anonymize` erases a customer: their conversations, tickets, feedback, audit rows,
carts, subscriptions, email ledgers and login are deleted, and the Customer row is kept with
its PII replaced — because orders (PROTECT) and their payments are accounting records the
store must keep. Order street lines are blanked; city/state/country/zip stay for tax records.
Any other row that points at the customer — including apps added later — is deleted by a
sweep over Customer's reverse relations, so a new model can't silently keep PII behind.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import ForeignKey, ForeignObjectRel, OneToOneField
from django.utils import timezone

from supportbot.errors import NotFound

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from orders.models import Customer

logger = logging.getLogger(__name__)

EXPORT_VERSION = 1
# Reverse relations of Customer that are accounting records and stay (anonymized customer).
KEPT_RELATIONS = {"orders.Order", "orders.PaymentMethod", "orders.SelfServiceRefund"}


def _customer(customer_id: int, *, lock: bool = False) -> Customer:
    from orders.models import Customer

    queryset = Customer.objects.select_for_update() if lock else Customer.objects.all()
    customer = queryset.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"Customer {customer_id} does not exist.")
    return customer


def _rows(queryset: Any, *fields: str) -> list[dict[str, Any]]:
    return list(queryset.values(*fields)) if fields else list(queryset.values())


def customer_data_export(*, customer_id: int) -> dict[str, Any]:
    """Everything stored about the customer, as plain JSON-serialisable structures
    (dates and decimals are left for DjangoJSONEncoder)."""
    from chat.models import Conversation, Feedback, Message, PendingAction, ToolCallLog
    from orders.models import Cart, CartItem, Fulfillment, Order, OrderItem, PaymentTransaction
    from orders.models_notifications import CartReminder, EmailOptOut, RestockNotification
    from tickets.models import Ticket, TicketEvent

    customer = _customer(customer_id)
    user = customer.user
    orders = Order.objects.filter(customer=customer)
    conversations = Conversation.objects.filter(customer=customer)
    tickets = Ticket.objects.filter(customer=customer)
    carts = Cart.objects.filter(customer=customer)
    return {
        "export_version": EXPORT_VERSION,
        "exported_at": timezone.now(),
        "customer": _rows(type(customer).objects.filter(pk=customer.pk))[0],
        "account": (
            {"username": user.get_username(), "email": getattr(user, "email", ""), "first_name": getattr(user, "first_name", ""),
             "last_name": getattr(user, "last_name", ""), "date_joined": getattr(user, "date_joined", None),
             "last_login": user.last_login}
            if user is not None else None
        ),
        "payment_methods": _rows(customer.payment_methods.all(), "payment_method_id", "source", "brand", "last_four", "balance"),
        "orders": _rows(orders),
        "order_items": _rows(OrderItem.objects.filter(order__customer=customer)),
        "fulfillments": _rows(Fulfillment.objects.filter(order__customer=customer)),
        "payments": _rows(PaymentTransaction.objects.filter(order__customer=customer)),
        "self_service_refunds": _rows(customer.self_service_refunds.all()),
        "carts": _rows(carts),
        "cart_items": _rows(CartItem.objects.filter(cart__customer=customer)),
        "restock_subscriptions": _rows(customer.restock_subscriptions.all()),
        "emails": {
            "restock_alerts": _rows(RestockNotification.objects.filter(customer=customer)),
            "cart_reminders": _rows(CartReminder.objects.filter(customer=customer)),
            "opt_outs": _rows(EmailOptOut.objects.filter(customer=customer)),
        },
        "conversations": _rows(conversations),
        "messages": _rows(Message.objects.filter(conversation__customer=customer).order_by("conversation_id", "created_at", "id")),
        "pending_actions": _rows(PendingAction.objects.filter(customer=customer)),
        "feedback": _rows(Feedback.objects.filter(message__conversation__customer=customer)),
        "tool_calls": _rows(ToolCallLog.objects.filter(customer=customer)),
        "tickets": _rows(tickets),
        "ticket_events": _rows(
            TicketEvent.objects.filter(ticket__customer=customer).order_by("ticket_id", "created_at", "id"),
            "ticket_id", "kind", "text", "old_value", "new_value", "created_at", "emailed_at",
        ),
    }


@dataclass
class AnonymizationReport:
    customer_id: int
    deleted: Counter[str] = field(default_factory=Counter)
    kept_orders: int = 0


def _delete(report: AnonymizationReport, queryset: Any) -> None:
    _, per_model = queryset.delete()
    report.deleted.update({label: count for label, count in per_model.items() if count})


@transaction.atomic
def customer_anonymize(*, customer_id: int, actor: AbstractBaseUser) -> AnonymizationReport:
    """Erase the customer's conversations, tickets and PII; keep orders and payments.

    Irreversible. The customer row is locked for the duration, so a concurrent chat turn or
    order write for this customer waits and then sees the anonymized record.
    """
    from django.contrib.auth import get_user_model

    from chat.models import Feedback, ToolCallLog
    from orders.models import Customer, Order
    from tickets.models import Ticket

    customer = _customer(customer_id, lock=True)
    report = AnonymizationReport(customer_id=customer.pk)

    # Tickets first: their events point at chat messages that the conversations take along.
    _delete(report, Ticket.objects.filter(customer=customer))
    _delete(report, ToolCallLog.objects.filter(customer=customer))
    _delete(report, customer.conversations.all())  # messages, pending actions, feedback on them
    if customer.user_id is not None:
        _delete(report, Feedback.objects.filter(user_id=customer.user_id))

    # Everything else that refers to the customer and is not an accounting record.
    # include_hidden: relations declared with related_name="+" point at the customer too.
    for relation in Customer._meta.get_fields(include_hidden=True):
        if not isinstance(relation, ForeignObjectRel) or not isinstance(relation.field, ForeignKey | OneToOneField):
            continue
        related_model = relation.related_model
        if not isinstance(related_model, type) or related_model._meta.label in KEPT_RELATIONS:
            continue
        _delete(report, related_model._default_manager.filter(**{relation.field.name: customer}))

    report.kept_orders = Order.objects.filter(customer=customer).update(address1="", address2="")
    user_id = customer.user_id
    customer.user = None
    customer.handle = f"erased_{customer.pk}"
    customer.first_name = "Erased"
    customer.last_name = "Customer"
    customer.email = f"erased-{customer.pk}@invalid.example"
    for name in ("address1", "address2", "city", "state", "country", "zip"):
        setattr(customer, name, "")
    customer.save()
    if user_id is not None:
        _delete(report, get_user_model().objects.filter(pk=user_id))
    logger.info("customer %s anonymized by %s: %s", customer.pk, actor.get_username(), dict(report.deleted))
    return report
