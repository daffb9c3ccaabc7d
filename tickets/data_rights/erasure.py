"""`customer_anonymize`: erase a customer, keeping the store's accounting records.

The steps below run in registration order inside one transaction: all of them or none. Rows
that only exist because of the customer are deleted; the Customer row and their orders stay
(orders are PROTECT and, with their payments, are records the store must keep), with the
personal fields replaced. Order street lines are blanked; city/state/country/zip stay for tax.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q, QuerySet

from chat.models import Conversation, PendingAction, ToolCallLog
from knowledge.models import Document
from orders.models import Cart, Customer, Order, RestockSubscription
from orders.models_notifications import CartReminder, EmailOptOut, RestockNotification, ShipmentNotification
from supportbot.models import FailedTask
from tickets.data_rights.finders import (
    failed_task_ids,
    inbound_event_query,
    login_name_query,
    outbound_message_query,
    resolved_ticket_documents,
)
from tickets.data_rights.registry import ERASURE_STEPS, Eraser, anonymises, erases
from tickets.data_rights.subject import ErasureReport, Subject, subject_for
from tickets.models import Ticket
from whatsapp.models import InboundEvent, LinkCode, OutboundMessage, WhatsAppContact

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

# Records erasure keeps, and why. They are exported; the coverage test accepts them as handled.
RETAINED_ON_ERASURE = {
    "orders.PaymentMethod": "payments of kept orders point at it (PROTECT); holds brand and last four digits only",
    "orders.PaymentTransaction": "accounting record of a kept order",
    "orders.OrderItem": "accounting record of a kept order",
    "orders.Fulfillment": "shipping record of a kept order (carrier and tracking number, no address)",
    "orders.SelfServiceRefund": "the refund limit's ledger: money paid out, kept with the orders",
}


@transaction.atomic
def customer_anonymize(*, customer_id: int, actor: AbstractBaseUser) -> ErasureReport:
    """Erase the customer's conversations, tickets, logins and PII; keep orders and payments.

    Irreversible. The customer row is locked for the duration, so a concurrent chat turn or
    order write for this customer waits and then sees the anonymized record.
    """
    subject = subject_for(customer_id=customer_id, lock=True)
    report = ErasureReport(customer_id=subject.customer.pk)
    for step in ERASURE_STEPS:
        step.run(subject, report)
    logger.info(
        "customer %s anonymized by %s: deleted %s, anonymized %s",
        subject.customer.pk,
        actor.get_username(),
        dict(report.deleted),
        dict(report.anonymized),
    )
    return report


def _delete(report: ErasureReport, queryset: QuerySet[Any]) -> None:
    _, per_model = queryset.delete()
    report.deleted.update({label: count for label, count in per_model.items() if count})


# Rows found through conversations go first: the conversations' deletion would null their keys.


@erases("whatsapp.InboundEvent")
def _erase_inbound_events(subject: Subject, report: ErasureReport) -> None:
    _delete(report, InboundEvent.objects.filter(inbound_event_query(subject)))


@erases("whatsapp.OutboundMessage")
def _erase_outbound_messages(subject: Subject, report: ErasureReport) -> None:
    _delete(report, OutboundMessage.objects.filter(outbound_message_query(subject)))


@erases("whatsapp.LinkCode")
def _erase_link_codes(subject: Subject, report: ErasureReport) -> None:
    _delete(
        report, LinkCode.objects.filter(Q(customer_id__in=subject.customer_ids) | Q(contact_id__in=subject.contact_ids))
    )


@erases("whatsapp.WhatsAppContact")
def _erase_whatsapp_numbers(subject: Subject, report: ErasureReport) -> None:
    _delete(report, WhatsAppContact.objects.filter(pk__in=subject.contact_ids))


@erases("chat.ToolCallLog")
def _erase_tool_calls(subject: Subject, report: ErasureReport) -> None:
    _delete(
        report,
        ToolCallLog.objects.filter(
            Q(customer_id__in=subject.customer_ids) | Q(conversation_id__in=subject.conversation_ids)
        ),
    )


@erases("supportbot.FailedTask")
def _erase_failed_tasks(subject: Subject, report: ErasureReport) -> None:
    # Retrying such a task after the erasure could only fail again: its rows are gone.
    _delete(report, FailedTask.objects.filter(pk__in=failed_task_ids(subject)))


@erases("axes.AccessAttempt")
def _erase_login_attempts(subject: Subject, report: ErasureReport) -> None:
    _delete(report, AccessAttempt.objects.filter(login_name_query(subject)))


@erases("axes.AccessFailureLog")
def _erase_login_failures(subject: Subject, report: ErasureReport) -> None:
    _delete(report, AccessFailureLog.objects.filter(login_name_query(subject)))


@erases("axes.AccessLog")
def _erase_logins(subject: Subject, report: ErasureReport) -> None:
    _delete(report, AccessLog.objects.filter(login_name_query(subject)))


@erases("knowledge.Document")
def _erase_resolved_ticket_documents(subject: Subject, report: ErasureReport) -> None:
    # Only resolved-ticket documents quote customers; the chunks (and their embeddings) go too.
    documents = resolved_ticket_documents(subject)
    _delete(report, Document.objects.filter(pk__in=[document.pk for document in documents]))


@anonymises("admin.LogEntry")
def _anonymize_admin_log(subject: Subject, report: ErasureReport) -> None:
    # Staff's history of admin changes stays; its one-line description of the changed row
    # ("Jane Doe (jane_doe_1042)") is the customer's name, so it goes.
    about: dict[type, set[int]] = {
        Customer: set(subject.customer_ids),
        get_user_model(): set(subject.user_ids),
        Ticket: set(subject.ticket_ids),
        Conversation: set(subject.conversation_ids),
        WhatsAppContact: set(subject.contact_ids),
    }
    query = Q(pk__in=[])
    for model, pks in about.items():
        if pks:
            content_type = ContentType.objects.get_for_model(model)
            query |= Q(content_type=content_type, object_id__in=[str(pk) for pk in pks])
    count = LogEntry.objects.filter(query).update(object_repr="(erased)")
    if count:
        report.anonymized["admin.LogEntry"] += count


@erases("tickets.Ticket")
def _erase_tickets(subject: Subject, report: ErasureReport) -> None:
    _delete(report, Ticket.objects.filter(pk__in=subject.ticket_ids))


@erases("chat.Conversation")
def _erase_conversations(subject: Subject, report: ErasureReport) -> None:
    # Their messages, pending turns, pending actions, feedback and dialogue state go with them.
    _delete(report, Conversation.objects.filter(pk__in=subject.conversation_ids))


def _delete_customer_rows(model: type[models.Model]) -> Eraser:
    """An erasure step for rows that belong to the customer by their own customer key."""

    def run(subject: Subject, report: ErasureReport) -> None:
        _delete(report, model._default_manager.filter(customer_id__in=subject.customer_ids))

    return run


# Deleted whole, found by their customer key: pending actions, carts and their reminders, restock
# subscriptions and alerts. Registered here, in this order, like the steps around them.
for _model in (PendingAction, Cart, CartReminder, RestockSubscription, RestockNotification):
    erases(_model._meta.label)(_delete_customer_rows(_model))


@erases("orders.ShipmentNotification")
def _erase_shipment_emails(subject: Subject, report: ErasureReport) -> None:
    _delete(report, ShipmentNotification.objects.filter(fulfillment__order__customer_id__in=subject.customer_ids))


erases("orders.EmailOptOut")(_delete_customer_rows(EmailOptOut))


@anonymises("orders.Order")
def _anonymize_orders(subject: Subject, report: ErasureReport) -> None:
    report.kept_orders = Order.objects.filter(customer_id__in=subject.customer_ids).update(address1="", address2="")
    if report.kept_orders:
        report.anonymized["orders.Order"] += report.kept_orders


@anonymises("orders.Customer")
def _anonymize_customers(subject: Subject, report: ErasureReport) -> None:
    # A WhatsApp guest owns nothing the store must keep, so it goes; the account stays, anonymized,
    # because its orders point at it.
    _delete(report, Customer.objects.filter(pk__in=subject.guest_customer_ids, orders__isnull=True))
    for customer in Customer.objects.filter(pk__in=subject.customer_ids):
        customer.user = None
        customer.handle = f"erased_{customer.pk}"
        customer.first_name = "Erased"
        customer.last_name = "Customer"
        customer.email = f"erased-{customer.pk}@invalid.example"
        for name in ("address1", "address2", "city", "state", "country", "zip"):
            setattr(customer, name, "")
        customer.save()
        report.anonymized["orders.Customer"] += 1


@erases("auth.User")
def _erase_logins_accounts(subject: Subject, report: ErasureReport) -> None:
    # Last: the customers no longer point at these logins. Their sessions stop working with them.
    _delete(report, get_user_model().objects.filter(pk__in=subject.user_ids))
