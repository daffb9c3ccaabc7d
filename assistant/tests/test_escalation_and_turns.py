"""Escalation to a ticket, the offline/fallback seam, expiry, citations in the LLM context."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from assistant import actions
from assistant.tests.llm_server import ScriptedLLM
from assistant.turn import chat_turn
from assistant.types import BrainReply, BrainRequest, RetrievedContext
from chat.models import Conversation, PendingAction
from supportbot.errors import InvalidInput, NotFound, RuleViolation
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def test_asking_for_a_person_opens_a_ticket_and_tells_the_number(conversation, customer):
    replies = chat_turn(conversation=conversation, text="I want to talk to a real person please", user=customer.user)

    ticket = Ticket.objects.get()
    assert ticket.number.startswith("T-") and ticket.number in replies[-1].text
    assert ticket.customer == customer and ticket.conversation == conversation and ticket.status == "new"
    assert "talk to a real person" in ticket.summary and ticket.sla_due_at > timezone.now()
    conversation.refresh_from_db()
    assert conversation.status == "escalated"


def test_while_escalated_the_assistant_says_once_that_a_person_will_answer(llm, conversation, customer):
    chat_turn(conversation=conversation, text="agent", user=customer.user)
    ticket = Ticket.objects.get()

    first = chat_turn(conversation=conversation, text="hello? anyone?", user=customer.user)
    second = chat_turn(conversation=conversation, text="still waiting", user=customer.user)

    assert ticket.number in first[-1].text and second == []
    assert Ticket.objects.count() == 1 and llm.requests == []
    ticket.resolve()
    ticket.save()
    llm.add(ScriptedLLM.text("Back with the assistant."))
    assert (
        chat_turn(conversation=conversation, text="thanks", user=customer.user)[-1].text == "Back with the assistant."
    )


def test_two_very_negative_messages_in_a_row_escalate_with_urgent_priority(llm, conversation, customer):
    llm.add(ScriptedLLM.text("I'm sorry to hear that."))
    chat_turn(
        conversation=conversation,
        text="This is terrible, awful service, I hate it and I am furious!",
        user=customer.user,
    )
    assert not Ticket.objects.exists()

    replies = chat_turn(
        conversation=conversation,
        text="Horrible. Worst store ever, absolutely disgusting and useless!",
        user=customer.user,
    )

    ticket = Ticket.objects.get()
    assert ticket.priority == "urgent" and ticket.number in replies[-1].text
    assert "very unhappy" in ticket.summary


def test_a_negative_then_calm_message_does_not_escalate(llm, conversation, customer):
    llm.add(ScriptedLLM.text("Sorry."), ScriptedLLM.text("Glad to help."))
    chat_turn(conversation=conversation, text="This is terrible, awful service, I hate it!", user=customer.user)
    chat_turn(conversation=conversation, text="ok where is my order", user=customer.user)
    assert not Ticket.objects.exists()


def test_without_llm_settings_the_offline_brain_answers(conversation, customer, settings, monkeypatch):
    settings.LLM_BASE_URL = ""
    seen: list[BrainRequest] = []

    def offline(request: BrainRequest) -> BrainReply:
        seen.append(request)
        return BrainReply(text="offline answer", intent="greeting")

    import assistant.turn as agent

    monkeypatch.setattr(agent, "select_brain", lambda: offline)
    replies = chat_turn(conversation=conversation, text="hello", user=customer.user)

    assert replies[-1].text == "offline answer" and replies[-1].model == "offline"
    assert seen[0].context.customer == customer and seen[0].history[-1].text == "hello"
    conversation.refresh_from_db()
    assert conversation.intent == "greeting"


def test_brain_selection_follows_the_settings(settings):
    from assistant import turn as agent
    from assistant.llm import brain as llm_brain

    settings.LLM_BASE_URL, settings.LLM_MODEL = "http://127.0.0.1:9/v1", "m"
    assert agent.select_brain() is llm_brain.respond
    settings.LLM_BASE_URL = ""
    assert agent.select_brain() is not llm_brain.respond


def test_assistant_brain_offline_keeps_the_offline_brain_with_an_llm_configured(settings):
    from assistant import offline
    from assistant import turn as agent

    settings.LLM_BASE_URL, settings.LLM_MODEL = "http://127.0.0.1:9/v1", "m"
    settings.ASSISTANT_BRAIN = "offline"
    assert agent.select_brain() is offline.respond


def test_a_brain_that_crashes_gets_the_customer_an_apology(conversation, customer, monkeypatch):
    import assistant.turn as agent

    def broken(request: BrainRequest) -> BrainReply:
        raise RuntimeError("boom")

    monkeypatch.setattr(agent, "select_brain", lambda: broken)
    replies = chat_turn(conversation=conversation, text="hello", user=customer.user)
    assert "sorry" in replies[-1].text.lower() and conversation.messages.filter(role="user", text="hello").exists()


def test_input_checks(conversation, customer):
    from chat.tests.conftest import make_customer

    with pytest.raises(InvalidInput):
        chat_turn(conversation=conversation, text="   ", user=customer.user)
    with pytest.raises(InvalidInput):
        chat_turn(conversation=conversation, text="x" * 4001, user=customer.user)
    with pytest.raises(NotFound):
        chat_turn(conversation=conversation, text="hi", user=make_customer().user)


def test_a_conversation_deleted_mid_turn_is_not_found_and_nothing_is_half_written(conversation, customer):
    from chat.models import Message

    stale = Conversation.objects.get(pk=conversation.pk)
    Conversation.objects.filter(pk=conversation.pk).delete()
    with pytest.raises(NotFound):
        chat_turn(conversation=stale, text="where is my order?", user=customer.user)
    assert not Message.objects.filter(conversation_id=stale.pk).exists()
    # The caller's transaction (here the test's) is still usable afterwards.
    assert Conversation.objects.filter(customer=customer).count() == 0


def test_a_conversation_deleted_while_the_brain_works_is_not_found_without_orphan_rows(
    conversation, customer, monkeypatch
):
    import assistant.turn as agent
    from chat.models import Message, ToolCallLog

    def deleting(request: BrainRequest) -> BrainReply:
        Conversation.objects.filter(pk=request.conversation.pk).delete()
        return BrainReply(text="An answer nobody will read.")

    monkeypatch.setattr(agent, "select_brain", lambda: deleting)
    with pytest.raises(NotFound):
        chat_turn(conversation=conversation, text="hello", user=customer.user)
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert not ToolCallLog.objects.filter(conversation_id=conversation.pk).exists()


def test_an_action_expires_after_the_configured_time(llm, conversation, customer, probe_executions):
    llm.add(ScriptedLLM.calls(("probe_write", {"note": "late"})), ScriptedLLM.text("Confirm?"))
    chat_turn(conversation=conversation, text="write late", user=customer.user)
    action = PendingAction.objects.get()
    PendingAction.objects.filter(pk=action.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(RuleViolation, match="expired"):
        actions.action_confirm(action_id=action.pk, customer=customer)

    action.refresh_from_db()
    assert action.status == "expired" and probe_executions == []
    # "yes" to the card that expired is told so, without asking the model to guess.
    reply = chat_turn(conversation=conversation, text="yes", user=customer.user)[-1].text
    assert "expired" in reply and "nothing was done" in reply and probe_executions == []


def test_the_llm_context_carries_retrieved_citations_and_the_answer_keeps_the_cited_ones(
    llm, conversation, customer, monkeypatch
):
    from assistant import turn as agent

    class Hit:
        def __init__(self, title: str, heading: str, text: str) -> None:
            self.text = text
            self.citation = {"id": title.lower(), "title": title, "heading": heading, "url": f"/help/{title.lower()}"}

    retrieved = RetrievedContext(
        hits=[
            Hit("Returns", "Refund timing", "Refunds reach a card in 5-7 business days."),
            Hit("Shipping", "Costs", "Shipping is free over $50."),
        ],
        confident=True,
    )
    monkeypatch.setattr(agent, "retrieve_knowledge", lambda text, **_: retrieved)
    llm.add(ScriptedLLM.text("Refunds take 5-7 business days [1]."))

    replies = chat_turn(conversation=conversation, text="how long do refunds take", user=customer.user)

    knowledge = llm.requests[0]["messages"][-2]["content"]  # a data message right before the question
    assert "[1] Returns › Refund timing (/help/returns)" in knowledge and "5-7 business days" in knowledge
    assert "[2] Shipping › Costs" in knowledge
    assert replies[-1].citations == [
        {"ref": 1, "id": "returns", "title": "Returns", "heading": "Refund timing", "url": "/help/returns"}
    ]


def test_long_histories_are_trimmed_to_the_budget_and_summarised(llm, conversation, customer, settings):
    settings.LLM_CONTEXT_TOKENS = 900
    for index in range(12):
        llm.add(ScriptedLLM.text(f"Answer number {index} " + "blah " * 40))
        chat_turn(conversation=conversation, text=f"Question number {index} " + "words " * 40, user=customer.user)

    last = llm.requests[-1]["messages"]
    assert last[1]["role"] == "user" and last[1]["content"].startswith("Earlier in this conversation")
    assert "Question number 0" in last[1]["content"]
    assert last[-1]["content"].startswith("Question number 11")
    assert len(last) < 2 + 2 * 12
    assert Conversation.objects.get(pk=conversation.pk).messages.count() == 24


def test_the_model_can_transfer_and_the_customer_learns_the_ticket_number(llm, conversation, customer):
    llm.add(
        ScriptedLLM.calls(("transfer_to_human_agents", {"summary": "Wants a refund exception for a late parcel."})),
        ScriptedLLM.text("I've handed you to a colleague."),
    )

    replies = chat_turn(conversation=conversation, text="My parcel is late and I want compensation", user=customer.user)

    ticket = Ticket.objects.get()
    assert ticket.number in replies[-1].text
    assert "Wants a refund exception" in ticket.summary
    conversation.refresh_from_db()
    assert conversation.status == "escalated"
