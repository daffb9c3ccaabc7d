"""SQL query budgets of the hot paths: a chat turn, the order pages, the staff views.

Each budget is checked twice: an upper bound on the number of queries, and "no N+1" — the
count does not grow when the customer has ten times as many orders (or the conversation ten
times as many messages, or the ticket list ten times as many tickets).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from assistant.turn import chat_turn
from chat.models import Conversation, Message
from chat.tests.conftest import make_customer
from orders.models import Customer, Order
from orders.tests.factories import PaymentMethodFactory, VariantFactory, make_order
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

# Budgets: measured on this code base, with some headroom for small changes; a change that
# needs more should say why in its commit.
CHAT_TURN_BUDGET = 40
ORDER_TURN_BUDGET = 64
ORDER_LIST_BUDGET = 14
ORDER_DETAIL_BUDGET = 16
TICKET_CHANGELIST_BUDGET = 16
DASHBOARD_BUDGET = 60
API_ANALYTICS_BUDGET = 30


def count_queries(action: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


def shopper_with_orders(count: int) -> Customer:
    customer = make_customer()
    card = PaymentMethodFactory(customer=customer)
    statuses = [Order.Status.PENDING, Order.Status.DELIVERED, Order.Status.PROCESSED, Order.Status.CANCELLED]
    for index in range(count):
        make_order(
            customer=customer,
            variants=[VariantFactory(), VariantFactory()],
            payment_method=card,
            status=statuses[index % len(statuses)],
        )
    return customer


# --- chat turn ----------------------------------------------------------------------------


def _turn_queries(*, orders: int, earlier_messages: int, text: str) -> int:
    customer = shopper_with_orders(orders)
    conversation = Conversation.objects.create(customer=customer)
    for index in range(earlier_messages):
        role = Message.Role.USER if index % 2 == 0 else Message.Role.ASSISTANT
        Message.objects.create(conversation=conversation, role=role, text=f"earlier message {index}")
    conversation.refresh_from_db()
    # Warm-up turn: model loading and one-time caches are not what this budget measures.
    chat_turn(conversation=conversation, text="hello", user=customer.user)
    return count_queries(lambda: chat_turn(conversation=conversation, text=text, user=customer.user))


def test_a_help_center_turn_stays_within_its_query_budget_whatever_the_history():
    text = "What is your return policy?"
    small = _turn_queries(orders=2, earlier_messages=2, text=text)
    large = _turn_queries(orders=20, earlier_messages=30, text=text)
    assert large <= CHAT_TURN_BUDGET, f"a chat turn ran {large} queries (budget {CHAT_TURN_BUDGET})"
    assert large == small, f"queries grow with orders/history: {small} -> {large} (N+1)"


def test_an_order_question_reads_a_bounded_number_of_orders():
    # The offline assistant reads at most its ORDERS_CONSIDERED latest orders, each through
    # the get_order_details tool (a handful of queries per order, by the tool's design); so
    # from ten orders on, more orders must not mean more queries.
    text = "Where are my orders?"
    some = _turn_queries(orders=10, earlier_messages=2, text=text)
    many = _turn_queries(orders=30, earlier_messages=30, text=text)
    assert many <= ORDER_TURN_BUDGET, f"an order question ran {many} queries (budget {ORDER_TURN_BUDGET})"
    assert many == some, f"queries grow with the number of orders: {some} -> {many}"


# --- order pages --------------------------------------------------------------------------


def test_my_orders_page_is_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    few, many = shopper_with_orders(2), shopper_with_orders(20)
    counts = []
    for customer in (few, many):
        client.force_login(customer.user)
        url = reverse("orders:list")
        client.get(url)  # session and caches warm
        with django_assert_max_num_queries(ORDER_LIST_BUDGET):
            response = client.get(url)
        assert response.status_code == 200
        counts.append(count_queries(lambda url=url: client.get(url)))
    assert counts[0] == counts[1], f"My orders: {counts[0]} queries for 2 orders, {counts[1]} for 20 (N+1)"


def test_order_detail_page_is_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    counts = []
    for items in (1, 12):
        customer = make_customer()
        card = PaymentMethodFactory(customer=customer)
        order = make_order(
            customer=customer,
            variants=[VariantFactory() for _ in range(items)],
            payment_method=card,
            status=Order.Status.DELIVERED,
        )
        client.force_login(customer.user)
        url = reverse("orders:detail", args=[order.order_id.lstrip("#")])
        client.get(url)
        with django_assert_max_num_queries(ORDER_DETAIL_BUDGET):
            response = client.get(url)
        assert response.status_code == 200
        assert order.order_id in response.content.decode()
        counts.append(count_queries(lambda url=url: client.get(url)))
    assert counts[0] == counts[1], f"order detail: {counts[0]} queries for 1 item, {counts[1]} for 12 (N+1)"


# --- staff --------------------------------------------------------------------------------


def _superuser():
    return get_user_model().objects.create_superuser("budget-lead", "budget-lead@cobalt.example", "budget-pass-123")


def _tickets(count: int) -> None:
    from django.utils import timezone

    for _ in range(count):
        customer = make_customer()
        conversation = Conversation.objects.create(customer=customer, status=Conversation.Status.ESCALATED)
        number = f"T-B{Ticket.objects.count() + 1:05d}"
        Ticket.objects.create(
            number=number,
            customer=customer,
            conversation=conversation,
            subject="Refund please",
            sla_due_at=timezone.now(),
        )


def test_the_staff_ticket_list_is_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    client.force_login(_superuser())
    url = reverse("admin:tickets_ticket_changelist")
    _tickets(2)
    client.get(url)
    small = count_queries(lambda: client.get(url))
    _tickets(20)
    with django_assert_max_num_queries(TICKET_CHANGELIST_BUDGET):
        response = client.get(url)
    assert response.status_code == 200
    large = count_queries(lambda: client.get(url))
    assert small == large, f"ticket list: {small} queries for 2 tickets, {large} for 22 (N+1)"


def test_the_support_dashboard_is_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    try:
        url = reverse("admin:tickets_dashboard")
    except NoReverseMatch:
        pytest.skip("the support analytics dashboard is not part of this tree")
    client.force_login(_superuser())
    for customer in (shopper_with_orders(1), shopper_with_orders(1)):
        conversation = Conversation.objects.create(customer=customer)
        chat_turn(conversation=conversation, text="hello", user=customer.user)
    client.get(url)
    small = count_queries(lambda: client.get(url))
    for _ in range(8):
        customer = shopper_with_orders(1)
        conversation = Conversation.objects.create(customer=customer)
        chat_turn(conversation=conversation, text="hello", user=customer.user)
    _tickets(5)
    with django_assert_max_num_queries(DASHBOARD_BUDGET):
        response = client.get(url)
    assert response.status_code == 200
    large = count_queries(lambda: client.get(url))
    assert small == large, f"dashboard: {small} queries with 2 conversations, {large} with 10 (N+1)"


def test_the_analytics_api_is_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    client.force_login(_superuser())
    url = reverse("chat_api:analytics")
    customer = shopper_with_orders(1)
    chat_turn(conversation=Conversation.objects.create(customer=customer), text="hello", user=customer.user)
    small = count_queries(lambda: client.get(url))
    for _ in range(6):
        chat_turn(
            conversation=Conversation.objects.create(customer=customer), text="where is my order", user=customer.user
        )
    with django_assert_max_num_queries(API_ANALYTICS_BUDGET):
        response = client.get(url)
    assert response.status_code == 200
    assert count_queries(lambda: client.get(url)) == small
