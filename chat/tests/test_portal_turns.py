"""The htmx hand-over from the send POST to the answer stream lives in the database (PendingTurn):
it works with the cache (Redis) unreachable, a turn is answered exactly once however many
streams connect, and a page load only shows a turn whose stream never connects (a worker answers
it: test_turn_tasks.py) or one cut off mid-answer — nothing the customer typed is lost. Answers
come from the scripted Chat Completions server (a real HTTP server)."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Conversation, Message, PendingTurn
from chat.services.turns import TURN_STREAM_GRACE_SECONDS, TURN_STUCK_SECONDS, turns_sweep_abandoned
from chat.tests.conftest import make_customer
from chat.tests.test_portal_chat import HTMX, sse_events
from supportbot.celery import app

pytestmark = pytest.mark.django_db


@pytest.fixture
def cache_down(settings, tmp_path):
    """The project's cache backend pointed at a unix socket where no Redis listens."""
    settings.CACHES = {
        "default": {
            "BACKEND": "supportbot.cache.ResilientRedisCache",
            "LOCATION": f"unix://{tmp_path}/no-redis.sock",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    from django.core.cache import cache

    cache.set("probe", 1)
    assert cache.get("probe") is None  # really unreachable, and degrading rather than raising
    return settings


def _stream_url(html: str) -> str:
    return re.search(r'data-stream-url="([^"]+)"', html).group(1)


def _send_htmx(client: Client, text: str, conversation: Conversation | None = None) -> str:
    data = {"text": text, **({"conversation": conversation.pk} if conversation else {})}
    response = client.post(reverse("chat:send"), data, **HTMX)
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_with_the_cache_down_htmx_chat_streams_the_answer_once(llm, client, cache_down):
    customer = make_customer()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.text("Still answering without Redis."))

    stream_url = _stream_url(_send_htmx(client, "Is the shop open?"))
    events = sse_events(client.get(stream_url))

    tokens = "".join(json.loads(data) for name, data in events if name == "token")
    assert tokens == "Still answering without Redis."
    assert events[-1][0] == "done" and "Still answering without Redis." in events[-1][1]
    conversation = Conversation.objects.get(customer=customer)
    assert list(conversation.messages.values_list("role", "text")) == [
        ("user", "Is the shop open?"),
        ("assistant", "Still answering without Redis."),
    ]
    assert PendingTurn.objects.get().state == PendingTurn.State.ANSWERED
    # A reconnect gets the stored answer again, without a second turn.
    replay = sse_events(client.get(stream_url))
    assert replay[-1][0] == "done" and "Still answering without Redis." in replay[-1][1]
    assert conversation.messages.count() == 2 and len(llm.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_two_streams_for_one_turn_answer_it_once(llm, client):
    customer = make_customer()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.text("Only once.", delay=1.0))
    stream_url = _stream_url(_send_htmx(client, "Hello?"))
    outcomes: list[list[tuple[str, str]]] = []
    start = threading.Barrier(2)

    def connect() -> None:
        mine = Client()
        mine.force_login(customer.user)
        start.wait()
        try:
            outcomes.append(sse_events(mine.get(stream_url)))
        finally:
            connection.close()

    threads = [threading.Thread(target=connect) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # One runs the turn; the other waits for that answer and shows it too.
    assert [events[-1][0] for events in outcomes] == ["done", "done"]
    assert all("Only once." in events[-1][1] for events in outcomes)
    assert len(llm.requests) == 1
    assert list(Message.objects.values_list("role", flat=True)) == ["user", "assistant"]


def test_loading_the_page_of_an_abandoned_turn_changes_nothing_and_shows_it_waiting(llm, client):
    customer = make_customer()
    client.force_login(customer.user)
    stream_url = _stream_url(_send_htmx(client, "Where is my parcel?"))
    conversation = Conversation.objects.get(customer=customer)
    # Its stream never came, and the grace period is over: a worker answers it (chat.tasks), not a GET.
    PendingTurn.objects.update(created_at=timezone.now() - timedelta(seconds=TURN_STREAM_GRACE_SECONDS + 1))
    llm.add(ScriptedLLM.text("It left the warehouse today."))

    pages = [
        client.get(reverse("chat:index")),
        client.get(reverse("chat:index"), {"c": conversation.pk}),
        client.get(reverse("chat:conversation", args=[conversation.pk])),
        client.get(reverse("chat:widget"), **HTMX),
    ]

    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert f'data-stream-url="{stream_url}"' in html and "Where is my parcel?" in html
    assert PendingTurn.objects.get().state == PendingTurn.State.PENDING
    assert not conversation.messages.exists() and llm.requests == []
    # Without JavaScript the waiting bubble offers a reload of the conversation.
    assert f'href="{reverse("chat:conversation", args=[conversation.pk])}#latest"' in pages[2].content.decode()


def test_loading_the_page_leaves_a_turn_cut_off_mid_answer_to_the_sweep(llm, client):
    customer = make_customer()
    client.force_login(customer.user)
    _send_htmx(client, "Cancel my order please")
    conversation = Conversation.objects.get(customer=customer)
    # Claimed by a stream whose process then died.
    PendingTurn.objects.update(
        state=PendingTurn.State.ANSWERING, claimed_at=timezone.now() - timedelta(seconds=TURN_STUCK_SECONDS + 1)
    )

    client.get(reverse("chat:conversation", args=[conversation.pk]))

    assert PendingTurn.objects.get().state == PendingTurn.State.ANSWERING


def test_a_turn_cut_off_mid_answer_is_shown_as_not_answered_until_sent_again(llm, client):
    customer = make_customer()
    client.force_login(customer.user)
    _send_htmx(client, "Cancel my order please")
    conversation = Conversation.objects.get(customer=customer)
    # Claimed by a stream whose process then died.
    PendingTurn.objects.update(
        state=PendingTurn.State.ANSWERING, claimed_at=timezone.now() - timedelta(seconds=TURN_STUCK_SECONDS + 1)
    )

    assert turns_sweep_abandoned() == 0  # nothing to answer, one turn to mark
    page = client.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()

    assert PendingTurn.objects.get().state == PendingTurn.State.FAILED
    unanswered = re.search(r'<li class="msg msg-user msg-unanswered".*?</li>', page, re.S).group(0)
    assert "Cancel my order please" in unanswered and "Send again" in unanswered
    assert 'name="text" value="Cancel my order please"' in unanswered

    # "Send again" is a plain form post: answered, and the notice goes away.
    llm.add(ScriptedLLM.text("Which order?"))
    response = client.post(reverse("chat:send"), {"text": "Cancel my order please", "conversation": conversation.pk})
    assert response.status_code == 302
    page = client.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()
    assert "msg-unanswered" not in page and "Which order?" in page


def test_the_beat_sweeps_abandoned_turns_every_30_seconds_and_their_answers_go_to_the_llm_queue():
    periodic = PeriodicTask.objects.get(task="chat.tasks.turns_sweep_abandoned")
    assert periodic.enabled and (periodic.interval.every, periodic.interval.period) == (30, "seconds")
    assert app.amqp.router.route({}, "chat.tasks.turns_sweep_abandoned")["queue"].name == "default"
    assert app.amqp.router.route({}, "chat.tasks.turn_answer_abandoned")["queue"].name == "llm"


@pytest.mark.parametrize("htmx", [False, True])
def test_with_the_cache_down_the_rate_limit_still_holds(llm, client, settings, cache_down, htmx):
    settings.CHAT_RATE_LIMIT = "2/m"
    customer = make_customer()
    client.force_login(customer.user)
    headers = HTMX if htmx else {}
    llm.add(ScriptedLLM.text("One."), ScriptedLLM.text("Two."))
    for text in ("first", "second"):
        assert client.post(reverse("chat:send"), {"text": text}, **headers).status_code in (200, 302)

    response = client.post(reverse("chat:send"), {"text": "third"}, **headers)

    assert response.status_code == 429
    assert "faster than we can answer" in response.content.decode()
    assert not Message.objects.filter(text="third").exists()
    assert not PendingTurn.objects.filter(text="third").exists()


def test_with_the_cache_down_the_rate_limit_is_still_per_customer(llm, client, settings, cache_down):
    settings.CHAT_RATE_LIMIT = "1/m"
    llm.add(ScriptedLLM.text("Hi A."), ScriptedLLM.text("Hi B."))
    for customer in (make_customer(), make_customer()):
        client.force_login(customer.user)
        assert client.post(reverse("chat:send"), {"text": "hello"}).status_code == 302
