"""One message limit (chat.limits) on every channel: the web chat, the JSON API and WhatsApp
refuse the same over-long message in the same words, naming the limit, before any turn runs."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from chat.limits import MAX_MESSAGE_CHARS, MESSAGE_TOO_LONG
from chat.models import Message
from whatsapp.tests.conftest import linked_contact, make_account, notification, run_webhook, text_message

pytestmark = pytest.mark.django_db


def test_web_api_and_whatsapp_refuse_the_same_over_long_message_naming_the_limit(graph, llm, new_phone):
    too_long = "x" * (MAX_MESSAGE_CHARS + 1)
    assert f"{MAX_MESSAGE_CHARS:,} characters" in MESSAGE_TOO_LONG
    customer = make_account()
    client = Client()
    client.force_login(customer.user)

    web = client.post(reverse("chat:send"), {"text": too_long}, HTTP_HX_REQUEST="true")
    assert web.status_code == 400 and MESSAGE_TOO_LONG in web.content.decode()

    api = client.post("/api/chat/message", {"text": too_long}, content_type="application/json")
    assert api.status_code == 400
    assert api.json()["error"]["fields"] == {"text": [MESSAGE_TOO_LONG]}

    phone = new_phone()
    linked_contact(customer, phone)
    run_webhook(Client(), notification(messages=[text_message(phone, too_long)]))
    (sent,) = graph.delivered()
    assert sent.to == phone and sent.text == MESSAGE_TOO_LONG

    assert not Message.objects.filter(role=Message.Role.USER).exists() and llm.requests == []
