"""`chat.selectors.access_conversation`: the one check that a conversation is the customer's."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from chat.models import Conversation
from chat.selectors import access_conversation
from chat.tests.conftest import make_customer
from supportbot.errors import NotFound

pytestmark = pytest.mark.django_db


def test_the_customers_own_conversation_comes_with_its_customer(conversation, customer, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = access_conversation(customer=customer, conversation_id=conversation.pk)
        assert found == conversation and found.customer == customer


def test_another_customers_conversation_is_not_found_exactly_like_a_missing_one(conversation):
    stranger = make_customer()
    with pytest.raises(NotFound) as foreign:
        access_conversation(customer=stranger, conversation_id=conversation.pk)
    with pytest.raises(NotFound) as missing:
        access_conversation(customer=stranger, conversation_id=conversation.pk + 1000)
    assert foreign.value.message == missing.value.message == "That conversation was not found."


def test_no_store_profile_is_not_found_too(conversation):
    with pytest.raises(NotFound, match="That conversation was not found."):
        access_conversation(customer=None, conversation_id=conversation.pk)


def test_the_page_the_htmx_send_and_the_api_all_answer_404_for_another_customers_conversation(conversation):
    client = Client()
    client.force_login(make_customer().user)

    assert client.get(reverse("chat:conversation", args=[conversation.pk])).status_code == 404
    sent = client.post(reverse("chat:send"), {"text": "hi", "conversation": conversation.pk}, HTTP_HX_REQUEST="true")
    assert sent.status_code == 404 and "That conversation was not found." in sent.content.decode()
    api = client.get(f"/api/chat/history/{conversation.pk}")
    assert api.status_code == 404 and api.json()["error"]["message"] == "That conversation was not found."
    assert Conversation.objects.get(pk=conversation.pk).messages.count() == 0


def test_a_staff_login_without_a_store_profile_gets_the_api_404_and_the_portal_page_403(conversation):
    staff = get_user_model().objects.create_user(username="staffer", password="pw-123-pw-123", is_staff=True)
    client = Client()
    client.force_login(staff)
    api = client.get(f"/api/chat/history/{conversation.pk}")
    assert api.status_code == 404 and "Only customer accounts" in api.json()["error"]["message"]
    assert client.get(reverse("chat:conversation", args=[conversation.pk])).status_code == 403
