"""Fixtures for the chat app (and the assistant's tests, which import them): customers with logins,
their conversations, and the probe tools of assistant.tests.probes."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from assistant.tests.probes import probe_executions  # noqa: F401 - a fixture for the API tests
from chat.models import Conversation
from orders.models import Customer
from orders.tests.factories import CustomerFactory


def make_customer(**fields: Any) -> Customer:
    customer = CustomerFactory(**fields)
    user = get_user_model().objects.create_user(
        username=customer.email, email=customer.email, password="chat-test-pass-123", first_name=customer.first_name
    )
    customer.user = user
    customer.save(update_fields=["user"])
    return customer


@pytest.fixture
def customer(db) -> Customer:
    return make_customer()


@pytest.fixture
def conversation(customer) -> Conversation:
    return Conversation.objects.create(customer=customer)
