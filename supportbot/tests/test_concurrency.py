"""Confirm-once, ownership and rate limits under concurrent requests, on the ASGI server the site
runs on (the project's app under uvicorn: supportbot/tests/asgi_live_server.py), with the model a
real local Chat Completions server that takes its time, so the requests truly overlap.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.test import Client

from assistant.tests.llm_server import ScriptedLLM
from assistant.tests.probes import probe_executions  # noqa: F401 - a fixture
from chat.models import Message, PendingAction, PendingTurn
from chat.tests.conftest import make_customer
from orders.models import Customer

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HX-Request": "true"}


def _signed_in(live_server: Any, customer: Customer) -> requests.Session:
    """A browser-like session for `customer` on the live server, with its CSRF token as a header."""
    client = Client()
    client.force_login(customer.user)
    session = requests.Session()
    session.cookies.set("sessionid", client.cookies["sessionid"].value)
    session.get(f"{live_server.url}/chat/", timeout=30).raise_for_status()
    session.headers["X-CSRFToken"] = session.cookies["csrftoken"]
    session.headers["Referer"] = f"{live_server.url}/chat/"
    return session


def _at_once(count: int, request: Callable[[int], requests.Response]) -> list[requests.Response]:
    """`count` requests released together by a barrier; their responses in index order."""
    barrier = threading.Barrier(count)
    responses: list[requests.Response | None] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        responses[index] = request(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(response is not None for response in responses), "a request did not come back"
    return [response for response in responses if response is not None]


def _events(body: str) -> list[str]:
    return re.findall(r"^event: (\w+)$", body, flags=re.MULTILINE)


def test_concurrent_confirmations_from_the_api_and_the_card_run_the_action_once(live_server, llm, probe_executions):  # noqa: F811
    customer = make_customer()
    session = _signed_in(live_server, customer)
    llm.add(ScriptedLLM.calls(("probe_write", {"note": "once"})), ScriptedLLM.text("Please confirm."))
    proposed = session.post(f"{live_server.url}/api/chat/message", json={"text": "write once"}, timeout=60)
    (action,) = proposed.json()["pending_actions"]
    api_url = f"{live_server.url}/api/chat/actions/{action['id']}/confirm"
    card_url = f"{live_server.url}/chat/actions/{action['id']}/confirm/"

    def confirm(index: int) -> requests.Response:
        if index % 2:  # half press the card's button (htmx), half call the API
            return session.post(card_url, headers=HTMX, timeout=60)
        return session.post(api_url, json={"idempotency_key": action["idempotency_key"]}, timeout=60)

    responses = _at_once(8, confirm)

    assert [response.status_code for response in responses] == [200] * 8
    assert len(probe_executions) == 1
    api_answers = [response.json() for response in responses[::2]]
    assert sorted(answer["replayed"] for answer in api_answers) in ([False, True, True, True], [True] * 4)
    assert PendingAction.objects.get(pk=action["id"]).status == PendingAction.Status.CONFIRMED


def test_concurrent_messages_past_the_rate_limit_are_refused_exactly_beyond_it(live_server, llm, settings):
    settings.CHAT_RATE_LIMIT = "4/m"
    customer = make_customer()
    session = _signed_in(live_server, customer)
    for _ in range(10):
        llm.add(ScriptedLLM.text("Answered.", delay=0.5))

    responses = _at_once(10, lambda i: session.post(f"{live_server.url}/api/chat/message", json={"text": f"hi {i}"}))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 4 + [429] * 6
    assert Message.objects.filter(conversation__customer=customer, role=Message.Role.USER).count() == 4


def test_streams_run_a_turn_once_and_nobody_else_reaches_it_while_it_runs(live_server, llm):
    owner = make_customer()
    intruder = make_customer()
    mine, theirs = _signed_in(live_server, owner), _signed_in(live_server, intruder)
    llm.add(ScriptedLLM.text("Only for the owner, once.", delay=1.5))
    sent = mine.post(f"{live_server.url}/chat/send/", data={"text": "Where is my parcel?"}, headers=HTMX, timeout=30)
    stream_path = re.search(r'data-stream-url="([^"]+)"', sent.text).group(1)  # type: ignore[union-attr]
    conversation_id = PendingTurn.objects.get().conversation_id

    def request(index: int) -> requests.Response:
        if index < 3:  # the owner's page and two reconnects stream the same turn
            return mine.get(f"{live_server.url}{stream_path}", timeout=60)
        if index < 6:
            return theirs.get(f"{live_server.url}{stream_path}", timeout=60)
        if index < 8:
            return theirs.get(f"{live_server.url}/api/chat/history/{conversation_id}", timeout=60)
        return theirs.post(
            f"{live_server.url}/api/chat/message",
            json={"text": "show me", "conversation_id": conversation_id},
            timeout=60,
        )

    responses = _at_once(10, request)

    for response in responses[:3]:
        assert response.status_code == 200 and _events(response.text)[-1] == "done", response.text[:300]
        assert "Only for the owner, once." in response.text
    for response in responses[3:6]:  # another account's stream token finds nothing to stream
        assert "Only for the owner" not in response.text
        assert response.status_code == 404 or _events(response.text) == ["failure"], response.text[:300]
    assert [response.status_code for response in responses[6:]] == [404] * 4
    assert len(llm.requests) == 1
    roles = Message.objects.filter(conversation_id=conversation_id).values_list("role", flat=True)
    assert list(roles) == ["user", "assistant"]


def test_a_customer_closing_the_page_mid_answer_still_gets_the_answer_stored(live_server, llm):
    customer = make_customer()
    session = _signed_in(live_server, customer)
    llm.add(ScriptedLLM.text("Stored even though you left.", delay=1.5))
    sent = session.post(f"{live_server.url}/chat/send/", data={"text": "Where is it?"}, headers=HTMX, timeout=30)
    stream_path = re.search(r'data-stream-url="([^"]+)"', sent.text).group(1)  # type: ignore[union-attr]
    with session.get(f"{live_server.url}{stream_path}", stream=True, timeout=30) as stream:
        assert stream.status_code == 200  # the turn is running; the customer leaves
    deadline = time.monotonic() + 20
    while PendingTurn.objects.get().state != PendingTurn.State.ANSWERED and time.monotonic() < deadline:
        time.sleep(0.2)

    assert PendingTurn.objects.get().state == PendingTurn.State.ANSWERED
    answer = Message.objects.filter(conversation__customer=customer, role=Message.Role.ASSISTANT).get()
    assert answer.text == "Stored even though you left."
