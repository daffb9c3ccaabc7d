"""Model rows written through raw SQL (supportbot.sql) come back exactly as the ORM writes them."""

from __future__ import annotations

import pytest
from django.db import connection

from chat.models import Conversation, Message, ToolCallLog
from orders.tests.factories import CustomerFactory
from supportbot.sql import assign_ids, insert_values

pytestmark = pytest.mark.django_db


def _insert(rows):
    values = insert_values(rows, prefix="p")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH inserted AS ({values.sql()}) SELECT array_agg(id ORDER BY id) FROM inserted", values.params)
        (ids,) = cursor.fetchone()
    assign_ids(rows, ids)
    return rows


def test_defaults_json_and_ids_match_what_the_orm_stores():
    conversation = Conversation.objects.create(customer=CustomerFactory())
    call, answer = _insert([
        Message(conversation=conversation, role=Message.Role.ASSISTANT, tool_calls=[{"id": "c1", "name": "track_order"}]),
        Message(conversation=conversation, role=Message.Role.ASSISTANT, text="It ships today — “quoted” ' text", latency_ms=12),
    ])
    assert call.pk < answer.pk and not answer._state.adding
    stored_call, stored_answer = Message.objects.filter(conversation=conversation).order_by("id")
    assert (stored_call.pk, stored_answer.pk) == (call.pk, answer.pk)
    assert stored_call.tool_calls == [{"id": "c1", "name": "track_order"}] and stored_call.tool_result is None
    assert stored_answer.text == "It ships today — “quoted” ' text" and stored_answer.latency_ms == 12
    assert stored_answer.citations == [] and stored_answer.prompt_tokens == 0 and stored_answer.created_at is not None


def test_parameters_of_two_statements_do_not_collide():
    conversation = Conversation.objects.create(customer=CustomerFactory())
    messages = insert_values([Message(conversation=conversation, role=Message.Role.USER, text="a")], prefix="m")
    logs = insert_values([ToolCallLog(conversation=conversation, tool="track_order", ok=True, outcome={"status": "ok"})], prefix="l")
    assert not set(messages.params) & set(logs.params)


def test_bad_calls_are_refused_with_a_reason():
    conversation = Conversation(pk=1)
    with pytest.raises(ValueError, match="at least one"):
        insert_values([], prefix="m")
    with pytest.raises(ValueError, match="ToolCallLog among Message"):
        insert_values([Message(conversation=conversation, role="user"), ToolCallLog(tool="x", ok=True)], prefix="m")
    with pytest.raises(ValueError, match="1 ids returned for 2 rows"):
        assign_ids([Message(), Message()], [5])
