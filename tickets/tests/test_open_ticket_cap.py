"""A customer may have TICKETS_MAX_OPEN_PER_CUSTOMER open tickets; asking for a person beyond it
is refused with a message that points to their latest ticket, and nothing new reaches staff."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from assistant.escalation import conversation_escalate
from chat.models import Conversation
from supportbot.errors import RuleViolation
from tickets.models import Ticket
from tickets.tests.conftest import make_customer

pytestmark = pytest.mark.django_db


def _ask_for_a_person(client: Client):
    return client.post(
        reverse("chat_api:message"), {"text": "I want to talk to a person please"}, content_type="application/json"
    )


def test_asking_for_a_person_past_the_cap_is_refused_with_the_latest_ticket_named(settings):
    settings.TICKETS_MAX_OPEN_PER_CUSTOMER = 2
    customer = make_customer()
    client = Client()
    client.force_login(customer.user)
    assert _ask_for_a_person(client).status_code == 200
    assert _ask_for_a_person(client).status_code == 200
    latest = Ticket.objects.filter(customer=customer).latest("created_at")

    refused = _ask_for_a_person(client)

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "too_many_open_tickets"
    assert error["message"].startswith("You already have 2 open support tickets")
    assert f"reply on your latest ticket, {latest.number}, under My tickets" in error["message"]
    assert Ticket.objects.filter(customer=customer).count() == 2

    # Once one is resolved, a new request opens a ticket again.
    latest.resolve()
    latest.save(update_fields=["status", "resolved_at"])
    assert _ask_for_a_person(client).status_code == 200
    assert Ticket.objects.filter(customer=customer, status__in=Ticket.ACTIVE_STATUSES).count() == 2


def test_the_cap_is_per_customer_and_escalating_an_already_escalated_chat_still_reuses_its_ticket(settings):
    settings.TICKETS_MAX_OPEN_PER_CUSTOMER = 1
    customer, other = make_customer(), make_customer()
    conversation = Conversation.objects.create(customer=customer)
    ticket = conversation_escalate(conversation=conversation, reason="asked").ticket

    assert conversation_escalate(conversation=conversation, reason="asked again").ticket == ticket
    with pytest.raises(RuleViolation):
        conversation_escalate(conversation=Conversation.objects.create(customer=customer), reason="asked")
    assert conversation_escalate(conversation=Conversation.objects.create(customer=other), reason="asked").created
