"""Conversation summaries on the llm queue, with a real worker process and the scripted LLM server.

The worker consumes only the `llm` queue, so every summary that arrives proves the job was routed
there. The web side (this process) has no LLM configured; the worker does: escalation answers
from the offline assistant at once, and the LLM summary follows.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import reverse

from assistant.tests.llm_server import ScriptedLLM
from assistant.turn import chat_turn
from chat.models import Conversation
from conftest import scripted_llm
from orders.tests.mail_worker import queue_worker, wait_until
from supportbot.models import FailedTask
from tickets import staff_services
from tickets.models import Ticket, TicketEvent
from tickets.tests.conftest import PASSWORD, make_staff

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def llm_server():
    # Not the test settings: only the worker process talks to this server (through its env).
    with scripted_llm(SimpleNamespace()) as server:
        yield server


@pytest.fixture(scope="module")
def llm_worker(django_db_setup, django_db_blocker, llm_server):
    env = {
        "LLM_BASE_URL": llm_server.base_url,
        "LLM_MODEL": "scripted-test-model",
        "LLM_API_KEY": "test-key",
        "LLM_TIMEOUT": "5",
        "LLM_RETRY_BUDGET": "0",
    }
    with django_db_blocker.unblock(), queue_worker(queues="llm", env=env) as worker:
        yield worker


@pytest.fixture(autouse=True)
def offline_web(settings):
    settings.LLM_BASE_URL = ""


def summary_events(ticket: Ticket) -> list[str]:
    return list(
        ticket.events.filter(kind=TicketEvent.Kind.SUMMARY)
        .order_by("created_at", "id")
        .values_list("new_value", flat=True)
    )


def stored_summary(ticket: Ticket) -> str:
    return Ticket.objects.values_list("summary", flat=True).get(pk=ticket.pk)


def escalate(customer) -> Ticket:
    conversation = Conversation.objects.create(customer=customer)
    chat_turn(conversation=conversation, text="I want to talk to a person about my refund", user=customer.user)
    return Ticket.objects.get(conversation=conversation)


def test_escalation_does_not_wait_and_the_llm_summary_follows(llm_worker, llm_server, customer):
    # The model takes 3 s: were the escalation waiting for it, the ticket would carry its summary
    # by the time chat_turn returns.
    llm_server.add(ScriptedLLM.text("Customer wants a refund; nothing done yet.", delay=3.0))
    ticket = escalate(customer)

    assert ticket.summary.startswith("Why escalated:") and "talk to a person about my refund" in ticket.summary
    assert wait_until(lambda: stored_summary(ticket) == "Customer wants a refund; nothing done yet.", timeout=30), (
        llm_worker.log()
    )
    ticket.refresh_from_db()
    assert ticket.conversation.summary == ticket.summary
    assert summary_events(ticket) == ["llm"]
    prompt = " ".join(str(message.get("content")) for message in llm_server.requests[-1]["messages"])
    assert "talk to a person about my refund" in prompt


def test_resolving_and_the_admin_button_queue_a_new_summary(llm_worker, llm_server, customer, client):
    # A superuser: the support groups come from a data migration, which a transactional test flushes.
    agent = make_staff("alex", group=None, superuser=True, first_name="Alex")
    llm_server.add(ScriptedLLM.text("First summary."))
    ticket = escalate(customer)
    assert wait_until(lambda: stored_summary(ticket) == "First summary.", timeout=30), llm_worker.log()

    # Staff ask for a new one: the page says it is on the way until the job has stored it.
    llm_server.add(ScriptedLLM.text("Second summary.", delay=2.0))
    assert client.login(username=agent.get_username(), password=PASSWORD)
    response = client.post(reverse("admin:tickets_ticket_summary", args=[ticket.pk]), follow=True)
    page = response.content.decode()
    assert "A new summary is being written" in page and "A new summary is on the way" in page
    assert wait_until(lambda: stored_summary(ticket) == "Second summary.", timeout=30), llm_worker.log()
    page = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk])).content.decode()
    assert "Second summary." in page and "A new summary is on the way" not in page

    # Resolving writes the final summary, which covers staff's part of the case.
    staff_services.ticket_reply(ticket_id=ticket.pk, author=agent, text="Your refund of $42 was issued today.")
    llm_server.add(ScriptedLLM.text("Refund of $42 issued by Alex; resolved."))
    staff_services.ticket_resolve(ticket_id=ticket.pk, actor=agent)
    assert wait_until(lambda: stored_summary(ticket) == "Refund of $42 issued by Alex; resolved.", timeout=30), (
        llm_worker.log()
    )
    prompt = " ".join(str(message.get("content")) for message in llm_server.requests[-1]["messages"])
    assert "Your refund of $42 was issued today." in prompt
    assert summary_events(ticket) == ["llm", "requested", "llm", "llm"]


def test_an_llm_that_keeps_failing_lands_in_failed_tasks_and_the_ticket_keeps_its_summary(
    llm_worker, llm_server, customer
):
    assert llm_server.remaining() == 0  # nothing scripted: every request gets a 500
    before = llm_server.exhausted
    ticket = escalate(customer)

    assert wait_until(
        lambda: FailedTask.objects.filter(name="tickets.summarize_ticket", args=[ticket.pk]).exists(), timeout=60
    ), llm_worker.log()
    failed = FailedTask.objects.get(name="tickets.summarize_ticket", args=[ticket.pk])
    assert "SummaryUnavailable" in failed.exception
    from tickets.tasks import SUMMARY_MAX_RETRIES

    assert llm_server.exhausted - before == 1 + SUMMARY_MAX_RETRIES  # the first try and every retry
    ticket.refresh_from_db()
    assert ticket.summary.startswith("Why escalated:") and summary_events(ticket) == []
