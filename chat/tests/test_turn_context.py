"""The chat turn's context (history and latest orders) is read in two queries, the customer's own only."""

from __future__ import annotations

from datetime import datetime

import pytest

from chat.models import Message
from chat.selectors import turn_context
from chat.tests.conftest import make_customer
from orders.tests.factories import PaymentMethodFactory, VariantFactory, make_order

pytestmark = pytest.mark.django_db


def test_history_up_to_the_message_and_latest_orders_in_two_queries(conversation, customer, django_assert_num_queries):
    texts = [
        Message.objects.create(conversation=conversation, role=Message.Role.USER, text=f"m{index}")
        for index in range(5)
    ]
    call = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        tool_calls=[{"id": "c1", "name": "track_order", "arguments": "{}"}],
    )
    result = Message.objects.create(
        conversation=conversation, role=Message.Role.TOOL, tool_result={"tool_call_id": "c1", "ok": True}
    )
    Message.objects.create(
        conversation=conversation, role=Message.Role.USER, text="sent after: not in this turn's history"
    )
    card = PaymentMethodFactory(customer=customer)
    variants = [VariantFactory(), VariantFactory()]
    older = make_order(customer=customer, variants=variants[:1], payment_method=card)
    newer = make_order(customer=customer, variants=variants, payment_method=card)
    stranger = make_customer()
    make_order(customer=stranger, variants=variants, payment_method=PaymentMethodFactory(customer=stranger))

    with django_assert_num_queries(2):
        history, orders = turn_context(conversation=conversation, upto=result, history_limit=4, orders_limit=5)

    assert [message.pk for message in history] == [texts[3].pk, texts[4].pk, call.pk, result.pk]
    assert history[2].tool_calls == [{"id": "c1", "name": "track_order", "arguments": "{}"}]
    assert history[3].tool_result == {"tool_call_id": "c1", "ok": True} and history[3].role == Message.Role.TOOL
    assert all(isinstance(message.created_at, datetime) and not message._state.adding for message in history)
    assert [order["order_id"] for order in orders] == [newer.order_id, older.order_id]
    assert [order["item_count"] for order in orders] == [2, 1] and isinstance(orders[0]["created_at"], datetime)
