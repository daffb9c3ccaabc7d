"""Deny-by-default visibility: a resolved ticket quotes another customer, so it reaches staff
tools only — never the help center, the chat (either brain) or an article page."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from assistant import staff as assist
from assistant.tests.llm_server import ScriptedLLM
from assistant.turn import chat_turn
from chat.models import Conversation, Message
from knowledge.models import Audience, Document
from knowledge.selectors import chunk_search
from knowledge.services import document_ingest_path
from knowledge.tests.conftest import SHIPPING, WARRANTY
from orders.models import Customer
from orders.tests.factories import CustomerFactory
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

JANE_ROE_TICKET = """---
title: Resolved ticket - thermos with a cracked lid
kind: resolved-ticket
---

Jane Roe's order #W9999999 at 12 Secret Lane arrived with a cracked thermos lid. The agent
posted a replacement lid by express courier and closed the case once she confirmed it fit.
"""
# Words that appear in the resolved ticket only: none of them may reach a customer.
PRIVATE_MARKERS = ("Jane Roe", "W9999999", "Secret Lane", "express courier", "thermos-with-a-cracked-lid")
QUESTION = "my thermos arrived with a cracked lid, what do you do about a cracked thermos lid?"


@pytest.fixture
def knowledge(write_article) -> Document:
    write_article("shipping.md", SHIPPING)
    write_article("warranty.md", WARRANTY)
    document_ingest_path(path=write_article("ticket-9999.md", JANE_ROE_TICKET).parent)
    return Document.objects.get(kind=Document.Kind.RESOLVED_TICKET)


def another_customer() -> Customer:
    customer = CustomerFactory(first_name="Sam")
    customer.user = get_user_model().objects.create_user(
        username=customer.email, email=customer.email, password="visibility-pass-123"
    )
    customer.save(update_fields=["user"])
    return customer


def assert_private(text: str) -> None:
    leaked = [marker for marker in PRIVATE_MARKERS if marker.lower() in text.lower()]
    assert not leaked, f"staff-only text reached a customer: {leaked}"


def test_a_new_kind_is_staff_only_until_listed_as_public():
    assert set(Document.kinds_visible_to(Audience.CUSTOMER)) == {str(kind) for kind in Document.PUBLIC_KINDS}
    assert Document.Kind.RESOLVED_TICKET not in Document.kinds_visible_to(Audience.CUSTOMER)
    assert set(Document.kinds_visible_to(Audience.STAFF)) == set(Document.Kind.values)


def test_chunk_search_serves_customers_by_default_and_staff_only_when_asked(knowledge):
    default = chunk_search(query=QUESTION, k=5)
    assert default.hits and all(hit.kind in Document.PUBLIC_KINDS for hit in default.hits)
    assert_private(" ".join(hit.text + hit.document_slug for hit in default.hits))
    # Asking for the kind by name does not widen a customer search; full text alone neither.
    assert chunk_search(query="Jane Roe W9999999 Secret Lane", kinds=[Document.Kind.RESOLVED_TICKET]).hits == []
    assert_private(" ".join(hit.text for hit in chunk_search(query="Jane Roe W9999999 Secret Lane", mode="text").hits))

    staff = chunk_search(query=QUESTION, k=5, audience=Audience.STAFF)
    assert staff.hits[0].document_id == knowledge.pk
    assert staff.hits[0].citation["url"] == ""  # no public page to link to
    only_tickets = chunk_search(query=QUESTION, kinds=[Document.Kind.RESOLVED_TICKET], audience=Audience.STAFF)
    assert [hit.document_id for hit in only_tickets.hits] == [knowledge.pk]


def test_anonymous_help_center_search_never_shows_it(client, knowledge):
    response = client.get(reverse("knowledge:index"), {"q": "cracked thermos lid W9999999"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Results for" in body
    assert knowledge.title not in body and "express courier" not in body and "12 Secret Lane" not in body


def test_its_article_page_is_not_found_for_anyone_outside_admin(client, knowledge):
    assert client.get(reverse("knowledge:article", kwargs={"slug": knowledge.slug})).status_code == 404
    client.force_login(another_customer().user)
    response = client.get(reverse("knowledge:article", kwargs={"slug": knowledge.slug}))
    assert response.status_code == 404
    assert_private(response.content.decode())


def test_another_customers_offline_chat_gets_no_text_or_citation_from_it(knowledge, settings):
    settings.LLM_BASE_URL = ""
    customer = another_customer()
    conversation = Conversation.objects.create(customer=customer)

    replies = chat_turn(conversation=conversation, text=QUESTION, user=customer.user)

    stored = Message.objects.filter(conversation=conversation)
    assert replies and stored.exists()
    for message in stored:
        assert_private(message.text)
        assert_private(json.dumps([message.citations, message.tool_calls, message.tool_result], default=str))


def test_another_customers_llm_chat_sends_nothing_of_it_to_the_model(knowledge, llm):
    llm.add(
        ScriptedLLM.calls(("search_knowledge_base", {"query": "replacement for a cracked thermos lid"})),
        ScriptedLLM.text("A cracked lid is covered: we send a replacement [1]."),
    )
    customer = another_customer()
    conversation = Conversation.objects.create(customer=customer)

    replies = chat_turn(conversation=conversation, text=QUESTION, user=customer.user)

    assert replies[-1].text.startswith("A cracked lid is covered")
    assert len(llm.requests) == 2  # the turn's context, then the tool's result
    assert_private(json.dumps(llm.requests))
    assert_private(json.dumps(replies[-1].citations))


def test_staff_suggest_reply_still_draws_on_resolved_tickets(knowledge, settings):
    settings.LLM_BASE_URL = ""
    ticket = Ticket.objects.create(
        number="T-VIS-1", customer=another_customer(), subject=QUESTION, sla_due_at=timezone.now() + timedelta(hours=4)
    )

    draft = assist.reply_suggest(ticket=ticket)

    assert draft.source == "offline"
    # The resolved ticket is offered to the agent as related reading, not pasted into the reply.
    assert draft.citations and draft.citations[0]["title"] == knowledge.title
    assert "cracked thermos lid" not in draft.text
