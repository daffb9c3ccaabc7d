"""`customer_data_export`: every row about the customer, one registered section per model."""

from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from chat.models import Conversation, Feedback, Message, PendingAction, PendingTurn, ToolCallLog
from chat.models_offline import DialogueState
from orders.models import (
    Cart,
    CartItem,
    Customer,
    Fulfillment,
    Order,
    OrderItem,
    PaymentMethod,
    PaymentTransaction,
    RestockSubscription,
    SelfServiceRefund,
)
from orders.models_notifications import CartReminder, EmailOptOut, RestockNotification, ShipmentNotification
from supportbot.models import FailedTask
from tickets.data_rights.finders import (
    failed_task_ids,
    inbound_event_query,
    login_name_query,
    outbound_message_query,
    resolved_ticket_documents,
)
from tickets.data_rights.registry import EXPORT_SECTIONS, exports
from tickets.data_rights.subject import Subject, subject_for
from tickets.models import Ticket, TicketEvent
from whatsapp.models import InboundEvent, LinkCode, OutboundMessage, WhatsAppContact

EXPORT_VERSION = 2

# Models that refer to the customer but hold nothing about them beyond what is exported, and why.
NOT_EXPORTED = {
    "admin.LogEntry": "staff's history of their own admin changes; the customer's rows it names are exported",
    "knowledge.Chunk": "passages cut from a document whose whole text is exported",
    "axes.AccessAttemptExpiration": "the expiry time of an exported login attempt, nothing else",
}


def _rows(queryset: QuerySet[Any], *fields: str) -> list[dict[str, Any]]:
    return list(queryset.values(*fields))


def customer_data_export(*, customer_id: int) -> dict[str, Any]:
    """Everything stored about the customer (and the WhatsApp guests of their numbers), as plain
    JSON-serialisable structures; dates and decimals are left for DjangoJSONEncoder."""
    subject = subject_for(customer_id=customer_id)
    data: dict[str, Any] = {"export_version": EXPORT_VERSION, "exported_at": timezone.now()}
    for section in EXPORT_SECTIONS:
        data[section.name] = section.rows(subject)
    data["customer"] = next(row for row in data["customers"] if row["id"] == subject.customer.pk)
    return data


# The person --------------------------------------------------------------------------------


@exports("customers", "orders.Customer")
def _customers(subject: Subject) -> list[dict[str, Any]]:
    return _rows(Customer.objects.filter(pk__in=subject.customer_ids).order_by("pk"))


@exports("accounts", "auth.User")
def _accounts(subject: Subject) -> list[dict[str, Any]]:
    # Not the password hash: it is a credential, not information about the person.
    return _rows(
        get_user_model().objects.filter(pk__in=subject.user_ids).order_by("pk"),
        "id",
        "username",
        "email",
        "first_name",
        "last_name",
        "is_active",
        "date_joined",
        "last_login",
    )


@exports("login_attempts", "axes.AccessAttempt")
def _login_attempts(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        AccessAttempt.objects.filter(login_name_query(subject)),
        "username",
        "ip_address",
        "user_agent",
        "path_info",
        "attempt_time",
        "failures_since_start",
    )


@exports("login_failures", "axes.AccessFailureLog")
def _login_failures(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        AccessFailureLog.objects.filter(login_name_query(subject)),
        "username",
        "ip_address",
        "user_agent",
        "path_info",
        "attempt_time",
        "locked_out",
    )


@exports("logins", "axes.AccessLog")
def _logins(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        AccessLog.objects.filter(login_name_query(subject)),
        "username",
        "ip_address",
        "user_agent",
        "path_info",
        "attempt_time",
        "logout_time",
    )


# Orders and payments ------------------------------------------------------------------------


@exports("payment_methods", "orders.PaymentMethod")
def _payment_methods(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        PaymentMethod.objects.filter(customer_id__in=subject.customer_ids),
        "payment_method_id",
        "source",
        "brand",
        "last_four",
        "balance",
    )


@exports("orders", "orders.Order")
def _orders(subject: Subject) -> list[dict[str, Any]]:
    return _rows(Order.objects.filter(customer_id__in=subject.customer_ids))


@exports("order_items", "orders.OrderItem")
def _order_items(subject: Subject) -> list[dict[str, Any]]:
    return _rows(OrderItem.objects.filter(order__customer_id__in=subject.customer_ids))


@exports("fulfillments", "orders.Fulfillment")
def _fulfillments(subject: Subject) -> list[dict[str, Any]]:
    return _rows(Fulfillment.objects.filter(order__customer_id__in=subject.customer_ids))


@exports("payments", "orders.PaymentTransaction")
def _payments(subject: Subject) -> list[dict[str, Any]]:
    return _rows(PaymentTransaction.objects.filter(order__customer_id__in=subject.customer_ids))


@exports("self_service_refunds", "orders.SelfServiceRefund")
def _self_service_refunds(subject: Subject) -> list[dict[str, Any]]:
    return _rows(SelfServiceRefund.objects.filter(customer_id__in=subject.customer_ids))


@exports("carts", "orders.Cart")
def _carts(subject: Subject) -> list[dict[str, Any]]:
    return _rows(Cart.objects.filter(customer_id__in=subject.customer_ids))


@exports("cart_items", "orders.CartItem")
def _cart_items(subject: Subject) -> list[dict[str, Any]]:
    return _rows(CartItem.objects.filter(cart__customer_id__in=subject.customer_ids))


@exports("restock_subscriptions", "orders.RestockSubscription")
def _restock_subscriptions(subject: Subject) -> list[dict[str, Any]]:
    return _rows(RestockSubscription.objects.filter(customer_id__in=subject.customer_ids))


@exports("restock_alerts", "orders.RestockNotification")
def _restock_alerts(subject: Subject) -> list[dict[str, Any]]:
    return _rows(RestockNotification.objects.filter(customer_id__in=subject.customer_ids))


@exports("cart_reminders", "orders.CartReminder")
def _cart_reminders(subject: Subject) -> list[dict[str, Any]]:
    return _rows(CartReminder.objects.filter(customer_id__in=subject.customer_ids))


@exports("shipment_emails", "orders.ShipmentNotification")
def _shipment_emails(subject: Subject) -> list[dict[str, Any]]:
    return _rows(ShipmentNotification.objects.filter(fulfillment__order__customer_id__in=subject.customer_ids))


@exports("email_opt_outs", "orders.EmailOptOut")
def _email_opt_outs(subject: Subject) -> list[dict[str, Any]]:
    return _rows(EmailOptOut.objects.filter(customer_id__in=subject.customer_ids))


# Chat -----------------------------------------------------------------------------------------


@exports("conversations", "chat.Conversation")
def _conversations(subject: Subject) -> list[dict[str, Any]]:
    return _rows(Conversation.objects.filter(pk__in=subject.conversation_ids).order_by("pk"))


@exports("messages", "chat.Message")
def _messages(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        Message.objects.filter(conversation_id__in=subject.conversation_ids).order_by(
            "conversation_id", "created_at", "id"
        )
    )


@exports("pending_turns", "chat.PendingTurn")
def _pending_turns(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        PendingTurn.objects.filter(Q(conversation_id__in=subject.conversation_ids) | Q(user_id__in=subject.user_ids)),
        "conversation_id",
        "text",
        "state",
        "error",
        "created_at",
    )


@exports("dialogue_states", "chat.DialogueState")
def _dialogue_states(subject: Subject) -> list[dict[str, Any]]:
    return _rows(DialogueState.objects.filter(conversation_id__in=subject.conversation_ids))


@exports("pending_actions", "chat.PendingAction")
def _pending_actions(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        PendingAction.objects.filter(
            Q(customer_id__in=subject.customer_ids) | Q(conversation_id__in=subject.conversation_ids)
        )
    )


@exports("feedback", "chat.Feedback")
def _feedback(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        Feedback.objects.filter(
            Q(message__conversation_id__in=subject.conversation_ids) | Q(user_id__in=subject.user_ids)
        )
    )


@exports("tool_calls", "chat.ToolCallLog")
def _tool_calls(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        ToolCallLog.objects.filter(
            Q(customer_id__in=subject.customer_ids) | Q(conversation_id__in=subject.conversation_ids)
        )
    )


# Tickets and staff knowledge --------------------------------------------------------------------


@exports("tickets", "tickets.Ticket")
def _tickets(subject: Subject) -> list[dict[str, Any]]:
    return _rows(Ticket.objects.filter(pk__in=subject.ticket_ids))


@exports("ticket_events", "tickets.TicketEvent")
def _ticket_events(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        TicketEvent.objects.filter(ticket_id__in=subject.ticket_ids).order_by("ticket_id", "created_at", "id"),
        "ticket_id",
        "kind",
        "text",
        "old_value",
        "new_value",
        "created_at",
        "emailed_at",
    )


@exports("resolved_ticket_documents", "knowledge.Document")
def _resolved_ticket_documents(subject: Subject) -> list[dict[str, Any]]:
    return [
        {"id": document.pk, "title": document.title, "source": document.source, "body": document.body}
        for document in resolved_ticket_documents(subject)
    ]


# Failed background tasks --------------------------------------------------------------------------


@exports("failed_tasks", "supportbot.FailedTask")
def _failed_tasks(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        FailedTask.objects.filter(pk__in=failed_task_ids(subject)),
        "name",
        "args",
        "kwargs",
        "exception",
        "failed_at",
    )


# WhatsApp ----------------------------------------------------------------------------------------------


@exports("whatsapp_numbers", "whatsapp.WhatsAppContact")
def _whatsapp_numbers(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        WhatsAppContact.objects.filter(pk__in=subject.contact_ids),
        "id",
        "phone",
        "profile_name",
        "customer_id",
        "guest_customer_id",
        "verified_at",
        "last_inbound_at",
        "created_at",
    )


@exports("whatsapp_link_codes", "whatsapp.LinkCode")
def _whatsapp_link_codes(subject: Subject) -> list[dict[str, Any]]:
    # Not the code hash: it is a credential.
    return _rows(
        LinkCode.objects.filter(Q(customer_id__in=subject.customer_ids) | Q(contact_id__in=subject.contact_ids)),
        "contact_id",
        "attempts",
        "created_at",
        "expires_at",
        "used_at",
        "emailed_at",
    )


@exports("whatsapp_inbound_events", "whatsapp.InboundEvent")
def _whatsapp_inbound_events(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        InboundEvent.objects.filter(inbound_event_query(subject)).order_by("received_at", "id"),
        "key",
        "kind",
        "phone",
        "payload",
        "state",
        "received_at",
        "processed_at",
    )


@exports("whatsapp_outbound_messages", "whatsapp.OutboundMessage")
def _whatsapp_outbound_messages(subject: Subject) -> list[dict[str, Any]]:
    return _rows(
        OutboundMessage.objects.filter(outbound_message_query(subject)).order_by("created_at", "id"),
        "kind",
        "text",
        "payload",
        "status",
        "created_at",
        "sent_at",
        "delivered_at",
        "read_at",
        "failed_at",
    )
