"""The htmx hand-over from the send POST to the answer stream lives in the database (PendingTurn):
it works with the cache (Redis) unreachable, a turn is answered exactly once however many
streams connect, and a turn whose stream never connects is answered on the next page load or
shown as not answered — nothing the customer typed is lost. Answers come from the scripted
Chat Completions server (a real HTTP server)."""

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

from chat.models import Conversation, Message, PendingTurn
from chat.tests.conftest import make_customer
from chat.tests.llm_server import ScriptedLLM
from chat.tests.test_portal_chat import HTMX, sse_events
from chat.views.turns import TURN_STREAM_GRACE_SECONDS, TURN_STUCK_SECONDS

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
        ("user", "Is the shop open?"), ("assistant", "Still answering without Redis."),
    ]
    assert PendingTurn.objects.get().state == PendingTurn.State.ANSWERED
    replay = sse_events(client.get(stream_url))
    assert replay[0][0] == "failure" and "no longer available" in replay[0][1]
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

    last_events = sorted(events[-1][0] for events in outcomes)
    assert last_events == ["done", "failure"]
    assert len(llm.requests) == 1
    assert list(Message.objects.values_list("role", flat=True)) == ["user", "assistant"]


def test_a_turn_whose_stream_never_connected_is_answered_on_the_next_page_load(llm, client):
    customer = make_customer()
    client.force_login(customer.user)
    stream_url = _stream_url(_send_htmx(client, "Where is my parcel?"))
    conversation = Conversation.objects.get(customer=customer)

    # Reloaded at once: the turn still waits for its stream, and the page shows it with one.
    page = client.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()
    assert f'data-stream-url="{stream_url}"' in page and "Where is my parcel?" in page
    assert not conversation.messages.exists() and llm.requests == []

    # Past the grace period the page load answers it itself.
    PendingTurn.objects.update(created_at=timezone.now() - timedelta(seconds=TURN_STREAM_GRACE_SECONDS + 1))
    llm.add(ScriptedLLM.text("It left the warehouse today."))
    page = client.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()

    assert "It left the warehouse today." in page and "data-stream-url" not in page
    assert list(conversation.messages.values_list("role", flat=True)) == ["user", "assistant"]
    assert PendingTurn.objects.get().state == PendingTurn.State.ANSWERED
    # The stream connecting late finds nothing to answer.
    assert sse_events(client.get(stream_url))[0][0] == "failure"
    assert conversation.messages.count() == 2


def test_a_turn_cut_off_mid_answer_is_shown_as_not_answered_until_sent_again(llm, client):
    customer = make_customer()
    client.force_login(customer.user)
    _send_htmx(client, "Cancel my order please")
    conversation = Conversation.objects.get(customer=customer)
    # Claimed by a stream whose process then died.
    PendingTurn.objects.update(
        state=PendingTurn.State.ANSWERING, claimed_at=timezone.now() - timedelta(seconds=TURN_STUCK_SECONDS + 1)
    )

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

