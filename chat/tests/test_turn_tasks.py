"""A turn whose answer stream never connected is answered by a real worker process, exactly once.

The worker consumes the "default" and "llm" queues and talks to the scripted Chat Completions
server through its environment; this process has no LLM configured, so any answer stored was
written by the worker. The turns are handed over by the real htmx POST.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Conversation, PendingTurn
from chat.services.turns import INTERRUPTED_MESSAGE, TURN_STREAM_GRACE_SECONDS, TURN_STUCK_SECONDS
from chat.tasks import turns_sweep_abandoned
from chat.tests.conftest import make_customer
from chat.tests.test_portal_chat import sse_events
from chat.tests.test_portal_turns import _send_htmx, _stream_url
from conftest import scripted_llm
from orders.tests.mail_worker import queue_worker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def llm_server():
    # Not the test settings: only the worker process talks to this server (through its env).
    with scripted_llm(SimpleNamespace()) as server:
        yield server


@pytest.fixture(scope="module")
def turn_worker(django_db_setup, django_db_blocker, llm_server):
    env = {
        "LLM_BASE_URL": llm_server.base_url,
        "LLM_MODEL": "scripted-test-model",
        "LLM_API_KEY": "test-key",
        "LLM_TIMEOUT": "5",
        "LLM_RETRY_BUDGET": "0",
    }
    with django_db_blocker.unblock(), queue_worker(queues="default,llm", env=env) as worker:
        yield worker


@pytest.fixture(autouse=True)
def offline_web(settings):
    settings.LLM_BASE_URL = ""


def _abandoned_turn(client: Client, text: str) -> tuple[Conversation, str]:
    """A customer sends with htmx and closes the tab: the stream never connects, the grace is over."""
    customer = make_customer()
    client.force_login(customer.user)
    stream_url = _stream_url(_send_htmx(client, text))
    PendingTurn.objects.update(created_at=timezone.now() - timedelta(seconds=TURN_STREAM_GRACE_SECONDS + 1))
    return Conversation.objects.get(customer=customer), stream_url


def _state() -> str:
    return PendingTurn.objects.values_list("state", flat=True).get()


def test_the_sweep_answers_an_abandoned_turn_exactly_once(turn_worker, llm_server, client):
    conversation, _ = _abandoned_turn(client, "Where is my parcel?")
    asked = len(llm_server.requests)
    llm_server.add(ScriptedLLM.text("It left the warehouse today."))

    # Two sweeps (beat ticking twice) plus the hand-over's own task: three tasks, one answer.
    turns_sweep_abandoned.delay()
    turns_sweep_abandoned.delay()

    assert wait_until(lambda: _state() == PendingTurn.State.ANSWERED, timeout=30), turn_worker.log()
    assert list(conversation.messages.values_list("role", "text")) == [
        ("user", "Where is my parcel?"),
        ("assistant", "It left the warehouse today."),
    ]
    assert len(llm_server.requests) == asked + 1
    page = client.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()
    assert "It left the warehouse today." in page and "data-stream-url" not in page


def test_a_stream_connecting_while_the_worker_answers_gets_that_answer_without_a_second_turn(
    turn_worker, llm_server, client
):
    conversation, stream_url = _abandoned_turn(client, "Can I change my address?")
    asked = len(llm_server.requests)
    llm_server.add(ScriptedLLM.text("Yes, until it ships.", delay=3.0))
    turns_sweep_abandoned.delay()
    assert wait_until(lambda: _state() == PendingTurn.State.ANSWERING, timeout=30), turn_worker.log()

    # The late stream waits for the worker's answer instead of leaving the customer to reload.
    late = sse_events(client.get(stream_url))

    assert late[-1][0] == "done" and "Yes, until it ships." in late[-1][1]
    assert "Can I change my address?" not in late[-1][1]  # the customer's bubble is already on the page
    assert _state() == PendingTurn.State.ANSWERED
    assert list(conversation.messages.values_list("role", flat=True)) == ["user", "assistant"]
    assert len(llm_server.requests) == asked + 1


def test_a_stream_for_a_turn_that_failed_elsewhere_says_so_with_a_retry(client):
    customer = make_customer()
    client.force_login(customer.user)
    conversation = Conversation.objects.create(customer=customer)
    turn = PendingTurn.objects.create(
        token="failed-elsewhere",
        conversation=conversation,
        user=customer.user,
        text="Hello?",
        state=PendingTurn.State.FAILED,
        error="The answer was interrupted.",
    )

    events = sse_events(client.get(reverse("chat:stream", args=[turn.token])))

    assert events[-1][0] == "failure" and "The answer was interrupted." in events[-1][1]


def test_the_hand_over_alone_gets_an_abandoned_turn_answered_after_the_grace_period(turn_worker, llm_server, client):
    # No sweep runs here: the POST queued the answer with a countdown of the grace period.
    customer = make_customer()
    client.force_login(customer.user)
    llm_server.add(ScriptedLLM.text("We open at nine."))

    _send_htmx(client, "When do you open?")

    assert _state() == PendingTurn.State.PENDING
    assert wait_until(lambda: _state() == PendingTurn.State.ANSWERED, timeout=TURN_STREAM_GRACE_SECONDS + 30), (
        turn_worker.log()
    )
    conversation = Conversation.objects.get(customer=customer)
    assert list(conversation.messages.values_list("text", flat=True)) == ["When do you open?", "We open at nine."]


def test_the_sweep_marks_a_turn_cut_off_mid_answer_as_not_answered(turn_worker, client):
    conversation, _ = _abandoned_turn(client, "Cancel my order please")
    # Claimed by a stream whose process then died.
    PendingTurn.objects.update(
        state=PendingTurn.State.ANSWERING, claimed_at=timezone.now() - timedelta(seconds=TURN_STUCK_SECONDS + 1)
    )

    turns_sweep_abandoned.delay()

    assert wait_until(lambda: _state() == PendingTurn.State.FAILED, timeout=30), turn_worker.log()
    assert PendingTurn.objects.get().error == INTERRUPTED_MESSAGE
    assert not conversation.messages.exists()
    page = client.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()
    assert "msg-unanswered" in page and "Send again" in page
