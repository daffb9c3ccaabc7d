"""What a chat turn writes: under concurrent turns, on the caller's thread, the offline memory."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from assistant.offline.state import State, state_load, state_save
from assistant.tests.llm_server import ScriptedLLM
from assistant.turn import chat_turn
from chat.models import Conversation, Message
from chat.models_offline import DialogueState
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

FURIOUS = "This is terrible, awful service, I hate it and I am furious!"


@pytest.mark.django_db(transaction=True)
def test_two_very_negative_messages_sent_at_once_are_each_counted_once_and_escalate_once(llm, customer):
    # Each turn locks the conversation row before it reads the streak, so the second turn to
    # store its message sees the first one's count: the streak reaches 2 exactly once.
    conversation = Conversation.objects.create(customer=customer)
    llm.add(ScriptedLLM.text("I'm sorry to hear that."), ScriptedLLM.text("I'm sorry to hear that."))
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def send(text: str) -> None:
        barrier.wait()
        try:
            chat_turn(conversation=Conversation.objects.get(pk=conversation.pk), text=text, user=customer.user)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=send, args=(text,))
        for text in (FURIOUS, "Horrible. Worst store ever, absolutely disgusting and useless!")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.ESCALATED
    assert "very unhappy" in Ticket.objects.get(conversation=conversation).summary
    assert Message.objects.filter(conversation=conversation, role=Message.Role.USER).count() == 2


def test_a_turn_starts_no_thread_of_its_own(conversation, customer):
    # The query embedding runs inline: on a busy worker a helper thread only competes with the
    # request for the same cores. (The offline brain: the scripted LLM server has threads of its own.)
    before = set(threading.enumerate())

    chat_turn(conversation=conversation, text="What is your return policy?", user=customer.user)

    assert set(threading.enumerate()) - before == set()


def test_the_offline_memory_is_one_row_per_conversation_holding_the_latest_state(conversation):
    state_save(conversation=conversation, state=State(form="cancel", slots={"order_id": "#W1"}))
    first = DialogueState.objects.get(pk=conversation.pk).updated_at

    state_save(conversation=conversation, state=State(form="return", turns=2))

    assert DialogueState.objects.filter(pk=conversation.pk).count() == 1
    assert state_load(conversation=conversation) == State(form="return", turns=2)
    assert DialogueState.objects.get(pk=conversation.pk).updated_at >= first
