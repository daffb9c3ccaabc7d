"""Data rights: the export holds everything about the customer (and nothing of others);
erasure removes conversations, tickets and PII, keeps orders and payments, and is staff-lead only."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.urls import reverse

from assistant.turn import chat_turn
from chat.models import Conversation, Feedback, Message, ToolCallLog
from orders.models import Cart, Customer, Order, PaymentTransaction, RestockSubscription
from orders.tests.factories import OrderFactory, PaymentMethodFactory, VariantFactory
from supportbot.errors import NotFound
from tickets import staff_services
from tickets.data_rights import customer_anonymize, customer_data_export
from tickets.models import Ticket, TicketEvent
from tickets.tests.conftest import PASSWORD, make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(escalated, customer, agent):
    """A customer with an order and payments, a cart, a restock subscription, feedback, a tool
    audit row, an escalated conversation with a ticket, a staff reply and a note."""
    card = PaymentMethodFactory(customer=customer, last_four="1111")
    order = OrderFactory(customer=customer, order_id="#W4242424", status="delivered")
    PaymentTransaction.objects.create(
        order=order, transaction_type="payment", amount=Decimal("50.00"), payment_method=card
    )
    PaymentTransaction.objects.create(
        order=order, transaction_type="refund", amount=Decimal("20.00"), payment_method=card
    )
    Cart.objects.create(customer=customer)
    RestockSubscription.objects.create(customer=customer, variant=VariantFactory())
    answer = Message.objects.create(conversation=escalated.conversation, role="assistant", text="An answer")
    Feedback.objects.create(message=answer, user=customer.user, rating="up", comment="great help")
    ToolCallLog.objects.create(
        customer=customer, conversation=escalated.conversation, tool="get_order_details", ok=True
    )
    staff_services.ticket_reply(ticket_id=escalated.pk, author=agent, text="We sent a replacement.")
    staff_services.ticket_note(ticket_id=escalated.pk, author=agent, text="Customer called twice.")
    return order


def test_export_holds_everything_about_the_customer_only(history, customer, escalated):
    bystander = make_customer()
    chat_turn(
        conversation=Conversation.objects.create(customer=bystander), text="talk to a person", user=bystander.user
    )

    data = json.loads(json.dumps(customer_data_export(customer_id=customer.pk), default=str))

    assert data["customer"]["email"] == customer.email and data["accounts"][0]["username"] == customer.user.username
    assert [row["order_id"] for row in data["orders"]] == ["#W4242424"]
    assert sorted(row["transaction_type"] for row in data["payments"]) == ["payment", "refund"]
    assert data["payment_methods"][0]["last_four"] == "1111"
    assert len(data["conversations"]) == 1 and data["conversations"][0]["id"] == escalated.conversation_id
    texts = [row["text"] for row in data["messages"]]
    assert "I want to talk to a person about my refund" in texts and "We sent a replacement." in texts
    assert data["feedback"][0]["comment"] == "great help"
    assert [row["number"] for row in data["tickets"]] == [escalated.number]
    assert {"public_reply", "internal_note"} <= {row["kind"] for row in data["ticket_events"]}
    assert len(data["carts"]) == 1 and len(data["restock_subscriptions"]) == 1 and len(data["tool_calls"]) == 1
    assert bystander.email not in json.dumps(data)


def test_export_of_an_unknown_customer_is_a_clear_error(db):
    with pytest.raises(NotFound, match="Customer 424242 does not exist"):
        customer_data_export(customer_id=424242)


def test_anonymize_erases_conversations_tickets_and_pii_but_keeps_orders(history, customer, escalated, lead):
    bystander = make_customer()
    other_conversation = Conversation.objects.create(customer=bystander)
    user_id, email, conversation_id = customer.user_id, customer.email, escalated.conversation_id

    report = customer_anonymize(customer_id=customer.pk, actor=lead)

    customer.refresh_from_db()
    assert (customer.first_name, customer.last_name, customer.address1, customer.zip, customer.user_id) == (
        "Erased",
        "Customer",
        "",
        "",
        None,
    )
    assert email != customer.email and customer.email.endswith("@invalid.example")
    assert not get_user_model().objects.filter(pk=user_id).exists()
    assert not Conversation.objects.filter(pk=conversation_id).exists()
    assert not Message.objects.filter(conversation_id=conversation_id).exists()
    assert (
        not Ticket.objects.filter(customer=customer).exists()
        and not TicketEvent.objects.filter(ticket_id=escalated.pk).exists()
    )
    assert (
        not Feedback.objects.filter(user_id=user_id).exists()
        and not ToolCallLog.objects.filter(customer=customer).exists()
    )
    assert (
        not Cart.objects.filter(customer=customer).exists()
        and not RestockSubscription.objects.filter(customer=customer).exists()
    )
    # Accounting records stay, without the street address.
    order = Order.objects.get(pk=history.pk)
    assert order.customer_id == customer.pk and order.address1 == "" and order.city == "Austin"
    assert PaymentTransaction.objects.filter(order=order).count() == 2 and report.kept_orders == 1
    assert report.deleted["tickets.Ticket"] == 1 and report.deleted["chat.Conversation"] == 1
    # Other customers are untouched.
    assert (
        Conversation.objects.filter(pk=other_conversation.pk).exists()
        and Customer.objects.get(pk=bystander.pk).email == bystander.email
    )


def test_data_rights_admin_actions_are_for_leads(client, history, customer, agent, lead):
    url = reverse("admin:orders_customer_changelist")
    assert client.login(username=agent.username, password=PASSWORD)
    form = client.get(url).context["action_form"]  # None when no action is allowed at all
    actions = dict(form.fields["action"].choices) if form is not None else {}
    assert "anonymize_customers" not in actions and "export_customer_data" not in actions
    client.post(url, {"action": "anonymize_customers", "_selected_action": [customer.pk], "confirm": "yes"})
    customer.refresh_from_db()
    assert customer.first_name != "Erased"

    client.logout()
    assert client.login(username=lead.username, password=PASSWORD)
    export = client.post(url, {"action": "export_customer_data", "_selected_action": [customer.pk]})
    assert export["Content-Type"] == "application/json"
    assert json.loads(export.content)["orders"][0]["order_id"] == "#W4242424"

    confirm = client.post(url, {"action": "anonymize_customers", "_selected_action": [customer.pk]})
    assert confirm.status_code == 200 and "cannot be undone" in confirm.content.decode()
    customer.refresh_from_db()
    assert customer.first_name != "Erased"  # nothing happens before the confirmation

    handle = customer.handle
    client.post(url, {"action": "anonymize_customers", "_selected_action": [customer.pk], "confirm": "yes"})
    customer.refresh_from_db()
    assert customer.first_name == "Erased" and Order.objects.filter(customer=customer).count() == 1
    # The admin history keeps the export and the erasure, without the customer's name.
    entries = LogEntry.objects.filter(object_id=str(customer.pk), content_type__model="customer")
    assert entries.count() == 2 and not entries.filter(object_repr__contains=handle).exists()
