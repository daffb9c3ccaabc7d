"""Fixtures for the staff side: staff users in the support groups, a customer with a login,
an escalated conversation with its ticket, and the scripted LLM server."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from assistant.turn import chat_turn
from chat.models import Conversation
from orders.models import Customer
from orders.tests.factories import CustomerFactory
from tickets.models import Ticket

PASSWORD = "staff-test-pass-123"


def make_staff(username: str, *, group: str | None = "Support agent", superuser: bool = False, first_name: str = ""):
    user = get_user_model().objects.create_user(
        username=username,
        email=f"{username}@cobalt.example",
        password=PASSWORD,
        is_staff=True,
        is_superuser=superuser,
        first_name=first_name or username.title(),
    )
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def make_customer(**fields) -> Customer:
    customer = CustomerFactory(**fields)
    customer.user = get_user_model().objects.create_user(
        username=customer.email, email=customer.email, password=PASSWORD, first_name=customer.first_name
    )
    customer.save(update_fields=["user"])
    return customer


@pytest.fixture
def agent(db):
    return make_staff("alex", group="Support agent", first_name="Alex")


@pytest.fixture
def lead(db):
    return make_staff("lee", group="Support lead", first_name="Lee")


@pytest.fixture
def customer(db) -> Customer:
    return make_customer()


@pytest.fixture
def conversation(customer) -> Conversation:
    return Conversation.objects.create(customer=customer)


@pytest.fixture
def escalated(conversation, customer) -> Ticket:
    """The customer asked for a person in the chat: an escalated conversation and a new ticket."""
    chat_turn(conversation=conversation, text="I want to talk to a person about my refund", user=customer.user)
    conversation.refresh_from_db()
    return Ticket.objects.get(conversation=conversation)
