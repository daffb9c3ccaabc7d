"""WhatsApp turns count against the same budget as the web chat and the API (CHAT_RATE_LIMIT):
a linked number against its account, an unlinked number against itself. Over the budget the
number gets one WhatsApp reply saying so, not one per message, and the assistant stays quiet."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Message
from chat.services.ratelimit import TURN_RATE_LIMITED
from whatsapp.tests.conftest import linked_contact, make_account, notification, run_webhook, text_message

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
    return settings


def _send(client: Client, phone: str, text: str) -> None:
    run_webhook(client, notification(messages=[text_message(phone, text)]))


def test_a_linked_number_shares_its_accounts_budget_with_the_web_chat(client, graph, llm, new_phone, settings):
    settings.CHAT_RATE_LIMIT = "2/m"
    customer = make_account()
    phone = new_phone()
    linked_contact(customer, phone)
    llm.add(ScriptedLLM.text("Web answer."), ScriptedLLM.text("WhatsApp answer."))
    web = Client()
    web.force_login(customer.user)
    assert web.post(reverse("chat:send"), {"text": "hello from the web"}).status_code == 302
    _send(client, phone, "hello from WhatsApp")

    _send(client, phone, "one more")
    _send(client, phone, "and another")

    assert [sent.text for sent in graph.delivered()] == ["WhatsApp answer.", TURN_RATE_LIMITED]
    assert not Message.objects.filter(text__in=["one more", "and another"]).exists()
    assert len(llm.requests) == 2


def test_an_unlinked_number_is_limited_per_number(client, graph, llm, new_phone, settings):
    settings.CHAT_RATE_LIMIT = "1/m"
    first, second = new_phone(), new_phone()
    llm.add(ScriptedLLM.text("Hi first."), ScriptedLLM.text("Hi second."))
    _send(client, first, "hello")
    _send(client, first, "hello again")
    _send(client, second, "hello")

    assert [(sent.to, sent.text) for sent in graph.delivered()] == [
        (first, "Hi first."),
        (first, TURN_RATE_LIMITED),
        (second, "Hi second."),
    ]


def test_with_redis_unreachable_the_database_still_limits_a_number(client, graph, llm, new_phone, cache_down):
    cache_down.CHAT_RATE_LIMIT = "1/m"
    phone = new_phone()
    llm.add(ScriptedLLM.text("Hi."))
    _send(client, phone, "hello")
    _send(client, phone, "hello again")

    assert [sent.text for sent in graph.delivered()] == ["Hi.", TURN_RATE_LIMITED]
