"""Every stored customer message gets an answer or a visible apology, even when the process
answering it dies: the beat sweep (chat.services.turns) apologises for what a killed turn left.

The first test kills a real Celery worker (SIGKILL) while it waits for the model on a customer's
message; the others cover the channels and what the sweep must leave alone.
"""

from __future__ import annotations

import signal
from datetime import timedelta
from types import SimpleNamespace

import psutil
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Conversation, Message, PendingTurn
from chat.services.turns import (
    TURN_STREAM_GRACE_SECONDS,
    TURN_STUCK_SECONDS,
    UNANSWERED_APOLOGY,
    messages_apologize_unanswered,
    turns_sweep_abandoned,
)
from chat.tasks import turn_answer_abandoned
from chat.tests.conftest import make_customer
from chat.tests.test_portal_turns import _send_htmx
from conftest import scripted_llm, start_worker
from orders.tests.mail_worker import wait_until
from whatsapp.models import InboundEvent, OutboundMessage
from whatsapp.tests.conftest import linked_contact

LONG_AGO = timedelta(seconds=TURN_STUCK_SECONDS + 5)


RECOVERY_QUEUE = "turn-recovery-test"


def _age(conversation: Conversation, by: timedelta = LONG_AGO) -> None:
    """Make the conversation's last activity and messages `by` old, as the clock would."""
    then = timezone.now() - by
    Message.objects.filter(conversation=conversation).update(created_at=then)
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=then)


def _unanswered(customer, text: str = "Where is my parcel?", **fields) -> Conversation:
    conversation = Conversation.objects.create(customer=customer, **fields)
    Message.objects.create(conversation=conversation, role=Message.Role.USER, text=text)
    _age(conversation)
    return conversation


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_turn_leaves_a_visible_apology(settings, client: Client) -> None:
    settings.LLM_BASE_URL = ""
    with scripted_llm(SimpleNamespace()) as model:
        model.add(ScriptedLLM.text("This answer never arrives.", delay=60.0))
        # A queue of its own: the suite's shared worker (celery_worker, started by an earlier test
        # in the same session) also consumes "llm" and would answer the turn with the offline brain.
        worker = start_worker(
            queues=RECOVERY_QUEUE,
            extra_env={"LLM_BASE_URL": model.base_url, "LLM_MODEL": "scripted-test-model", "LLM_API_KEY": "test-key"},
        )
        try:
            customer = make_customer()
            client.force_login(customer.user)
            _send_htmx(client, "Where is my parcel?")  # the stream never connects: the tab closed
            turn = PendingTurn.objects.get()
            PendingTurn.objects.filter(pk=turn.pk).update(
                created_at=timezone.now() - timedelta(seconds=TURN_STREAM_GRACE_SECONDS + 1)
            )
            turn_answer_abandoned.apply_async(args=(turn.pk,), queue=RECOVERY_QUEUE)
            assert wait_until(lambda: len(model.requests) == 1, timeout=60), worker.log()
            assert PendingTurn.objects.get().state == PendingTurn.State.ANSWERING
        finally:
            # SIGKILL, the main process and its pool child alike: nothing gets to clean up.
            for process in [*psutil.Process(worker.process.pid).children(recursive=True), worker.process]:
                process.send_signal(signal.SIGKILL)
            worker.process.wait(timeout=30)
    conversation = Conversation.objects.get(customer=customer)
    assert list(conversation.messages.values_list("role", flat=True)) == ["user"]
    _age(conversation)
    PendingTurn.objects.update(claimed_at=timezone.now() - LONG_AGO)

    turns_sweep_abandoned()

    assert PendingTurn.objects.get().state == PendingTurn.State.FAILED
    assert list(conversation.messages.values_list("role", "text")) == [
        ("user", "Where is my parcel?"),
        ("assistant", UNANSWERED_APOLOGY),
    ]
    page = client.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()
    assert "couldn&#x27;t finish answering your last message" in page or "couldn't finish answering" in page


@pytest.mark.django_db
def test_an_api_message_left_unanswered_gets_the_apology_once() -> None:
    customer = make_customer()
    conversation = _unanswered(customer, channel=Conversation.Channel.API)

    assert [message.text for message in messages_apologize_unanswered()] == [UNANSWERED_APOLOGY]
    assert messages_apologize_unanswered() == []  # the next run finds it answered
    assert list(conversation.messages.values_list("role", flat=True)) == ["user", "assistant"]


@pytest.mark.django_db
def test_the_sweep_leaves_answered_recent_escalated_and_waiting_conversations_alone() -> None:
    customer = make_customer()
    answered = _unanswered(customer)
    Message.objects.create(conversation=answered, role=Message.Role.ASSISTANT, text="It's on its way.")
    _age(answered)
    recent = _unanswered(customer)
    _age(recent, by=timedelta(seconds=30))  # a turn may still be answering it
    with_a_person = _unanswered(customer, status=Conversation.Status.ESCALATED)
    waiting = _unanswered(customer)
    PendingTurn.objects.create(token="waiting-turn", conversation=waiting, user=customer.user, text="Hello?")

    assert messages_apologize_unanswered() == []
    for conversation in (answered, recent, with_a_person, waiting):
        assert conversation.messages.filter(text=UNANSWERED_APOLOGY).count() == 0


@pytest.mark.django_db
def test_a_whatsapp_message_left_unanswered_gets_the_apology_on_whatsapp() -> None:
    customer = make_customer()
    contact = linked_contact(customer, "+15550001234")
    type(contact).objects.filter(pk=contact.pk).update(last_inbound_at=timezone.now() - LONG_AGO)
    conversation = _unanswered(customer, channel=Conversation.Channel.WHATSAPP)
    # The webhook's record of the message that was never answered (a worker died processing it).
    InboundEvent.objects.create(
        key="wamid.unanswered",
        kind=InboundEvent.Kind.MESSAGE,
        phone=contact.phone,
        payload={},
        state=InboundEvent.State.RECEIVED,
        contact=contact,
        conversation=conversation,
    )

    [apology] = messages_apologize_unanswered()

    queued = OutboundMessage.objects.get(contact=contact)
    assert "couldn't finish answering your last message" in str(queued.payload)
    assert queued.conversation_id == apology.conversation_id == conversation.pk
