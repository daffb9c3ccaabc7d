"""Handoff routing both ways: customer → ticket while a person has it, staff → chat, back to the assistant."""

from __future__ import annotations

import pytest

from assistant.tests.llm_server import ScriptedLLM
from assistant.turn import chat_turn
from chat.models import Conversation, Message
from tickets import staff_services
from tickets.handoff import handoff_route_customer_message
from tickets.models import TicketEvent

pytestmark = pytest.mark.django_db


def test_not_escalated_is_not_routed(conversation):
    assert handoff_route_customer_message(conversation=conversation, text="hello") is False


def test_escalated_but_unassigned_is_left_to_the_chat(escalated, conversation):
    assert handoff_route_customer_message(conversation=conversation, text="hello?") is False
    assert not escalated.events.exists()


def test_assigned_ticket_gets_the_customer_messages_and_the_assistant_stays_silent(
    llm, escalated, conversation, customer, agent
):
    staff_services.ticket_assign(ticket_id=escalated.pk, actor=agent, assignee=agent)

    first = chat_turn(conversation=conversation, text="My order number is #W1234", user=customer.user)
    second = chat_turn(conversation=conversation, text="Also it arrived broken", user=customer.user)

    assert llm.requests == []  # no brain was asked
    assert len(first) == 1 and "Alex" in first[0].text and escalated.number in first[0].text
    assert second == []  # told once, then silent
    replies = list(escalated.events.filter(kind=TicketEvent.Kind.CUSTOMER_REPLY).order_by("id"))
    assert [event.text for event in replies] == ["My order number is #W1234", "Also it arrived broken"]
    assert all(event.message.role == "user" and event.author == customer.user for event in replies)


def test_staff_reply_appears_in_the_chat_and_resolving_hands_back(llm, escalated, conversation, customer, agent):
    staff_services.ticket_assign(ticket_id=escalated.pk, actor=agent, assignee=agent)
    staff_services.ticket_reply(ticket_id=escalated.pk, author=agent, text="I've refunded you, sorry for the trouble.")

    staff_message = conversation.messages.filter(model=staff_services.STAFF_MODEL).get()
    assert staff_message.role == Message.Role.ASSISTANT and "refunded" in staff_message.text

    chat_turn(conversation=conversation, text="Thank you!", user=customer.user)
    assert llm.requests == []

    staff_services.ticket_resolve(ticket_id=escalated.pk, actor=agent)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN

    llm.add(ScriptedLLM.text("Happy to help with anything else."))
    replies = chat_turn(conversation=conversation, text="what is your return window?", user=customer.user)
    assert replies[-1].text == "Happy to help with anything else." and len(llm.requests) == 1
    # The assistant's context includes what the person said.
    sent = " ".join(str(message.get("content")) for message in llm.requests[0]["messages"])
    assert "refunded you" in sent
