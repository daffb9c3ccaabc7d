"""The assistant's search_knowledge_base tool, called through the real registry."""

from __future__ import annotations

import pytest

from assistant.tools import ToolContext, call_tool, get_tool
from knowledge.services import document_ingest_path
from knowledge.tests.conftest import SHIPPING, TICKET
from orders.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def indexed(write_article):
    write_article("ticket-4411.md", TICKET)
    document_ingest_path(path=write_article("shipping.md", SHIPPING).parent)


def test_tool_is_registered_and_not_consequential():
    registered = get_tool("search_knowledge_base")
    assert registered is not None and not registered.consequential
    assert registered.parameters["required"] == ["query"]


def test_customer_gets_cited_passages_and_a_confidence_flag(indexed):
    outcome = call_tool(
        "search_knowledge_base", {"query": "my parcel never arrived"}, context=ToolContext(customer=CustomerFactory())
    )
    assert outcome.ok, outcome.error
    assert outcome.result["confident"] is True
    top = outcome.result["results"][0]
    assert top["citation"]["url"] == "/help/shipping/#lost-packages"
    assert "tracking page says delivered" in top["text"]


def test_resolved_tickets_never_come_back_whoever_the_context_names(indexed):
    # What the tool returns goes to the model and on to the chat, so even a context without a
    # customer (the operator's call_tools) gets public kinds only; staff search in admin.
    query = {"query": "cracked water tank on order W5527310"}
    for context in (
        ToolContext(customer=CustomerFactory()),
        ToolContext(customer=None),
        ToolContext(customer=None, verified=False),
    ):
        outcome = call_tool("search_knowledge_base", query, context=context)
        assert outcome.ok and outcome.result["results"]
        assert all(
            r["kind"] != "resolved-ticket" and "cracked water tank" not in r["text"] for r in outcome.result["results"]
        )


def test_unrelated_or_empty_queries_are_handled_without_errors(indexed):
    context = ToolContext(customer=CustomerFactory())
    unrelated = call_tool("search_knowledge_base", {"query": "??? !!!"}, context=context)
    assert unrelated.ok and unrelated.result == {"confident": False, "results": []}
    empty = call_tool("search_knowledge_base", {"query": "  "}, context=context)
    assert not empty.ok and empty.error["code"] == "invalid_input"
    missing = call_tool("search_knowledge_base", {}, context=context)
    assert not missing.ok and "query" in missing.error["message"]
