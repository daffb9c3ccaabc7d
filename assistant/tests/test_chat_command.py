"""`manage.py chat --as HANDLE`: a terminal conversation through the same turn service."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assistant.tests.llm_server import ScriptedLLM
from assistant.types import RetrievedContext
from chat.models import Conversation, Message, PendingAction

pytestmark = pytest.mark.django_db


def typed(monkeypatch, lines: list[str]) -> None:
    """What the person at the terminal types, then Ctrl-D."""
    feed: Iterator[str] = iter(lines)

    def fake_input(prompt: str = "") -> str:
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)


def test_a_terminal_conversation_proposes_and_yes_confirms_exactly_once(llm, customer, probe_executions, monkeypatch):
    llm.add(
        ScriptedLLM.calls(("probe_write", {"note": "hello"})),
        ScriptedLLM.text("Shall I write “hello”? Please confirm."),
    )
    typed(monkeypatch, ["Write hello to my account", "", "yes", "yes"])
    out = StringIO()

    call_command("chat", "--as", customer.handle, stdout=out)

    text = out.getvalue()
    conversation = Conversation.objects.get(customer=customer)
    assert conversation.channel == Conversation.Channel.TERMINAL
    assert f"Conversation {conversation.pk} as {customer.full_name} ({customer.handle})" in text
    assert "assistant> Shall I write “hello”? Please confirm." in text
    action = PendingAction.objects.get(conversation=conversation)
    assert f"awaiting your confirmation (#{action.pk}): Write the note “hello” to your account" in text
    assert "type 'yes' to confirm or 'no' to decline" in text
    # The first "yes" ran it; the second found nothing waiting and went to the assistant.
    action.refresh_from_db()
    assert action.status == PendingAction.Status.CONFIRMED
    assert probe_executions == [{"note": "hello", "customer": customer.handle}]
    assert "Done — write the note “hello”" in text
    assert (
        Message.objects.filter(conversation=conversation, role=Message.Role.USER).count() == 3
    )  # the blank line is skipped


def test_citations_are_listed_under_the_answer(llm, customer, monkeypatch):
    from assistant import turn as agent

    class Hit:
        def __init__(self, title: str, heading: str, url: str) -> None:
            self.text = "Refunds reach a card in 5-7 business days."
            self.citation = {"id": url, "title": title, "heading": heading, "url": url}

    retrieved = RetrievedContext(
        hits=[
            Hit("Returns", "Refund timing", "/help/returns/#refund-timing"),
            Hit("Returns", "Returns", "/help/returns/"),
        ],
        confident=True,
    )
    monkeypatch.setattr(agent, "retrieve_knowledge", lambda text, **_: retrieved)
    llm.add(ScriptedLLM.text("Refunds take 5-7 business days [1], as the returns article says [2]."))
    typed(monkeypatch, ["how long do refunds take?"])
    out = StringIO()

    call_command("chat", "--as", customer.handle, stdout=out)

    lines = out.getvalue().splitlines()
    answer = next(index for index, line in enumerate(lines) if "assistant> Refunds take" in line)
    assert lines[answer + 1] == "    [1] Returns › Refund timing /help/returns/#refund-timing"
    assert lines[answer + 2] == "    [2] Returns /help/returns/"  # an introduction: the title once
    knowledge = llm.requests[0]["messages"][-2]["content"]
    assert (
        "[1] Returns › Refund timing (/help/returns/#refund-timing)" in knowledge
        and "[2] Returns (/help/returns/)" in knowledge
    )


def test_an_unknown_handle_or_someone_elses_conversation_is_refused(customer):
    from chat.tests.conftest import make_customer

    with pytest.raises(CommandError, match="No customer with handle 'nobody_here'"):
        call_command("chat", "--as", "nobody_here")
    other = Conversation.objects.create(customer=make_customer())
    with pytest.raises(CommandError, match=f"has no conversation {other.pk}"):
        call_command("chat", "--as", customer.handle, "--conversation", str(other.pk))
