"""The JSON API over the real HTTP stack: session auth, CSRF, ownership, exactly-once confirm."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Conversation, Feedback, PendingAction
from chat.tests.conftest import make_customer

pytestmark = pytest.mark.django_db


def test_schema_is_served_and_lists_the_endpoints(client):
    response = client.get("/api/schema")
    assert response.status_code == 200
    body = response.content.decode()
    for path in [
        "/api/chat/message",
        "/api/chat/history/{conversation_id}",
        "/api/chat/feedback",
        "/api/chat/actions/{action_id}/confirm",
        "/api/chat/actions/{action_id}/decline",
        "/api/chat/analytics",
    ]:
        assert path in body


def test_anonymous_requests_are_refused(client):
    assert client.post("/api/chat/message", {"text": "hi"}, content_type="application/json").status_code == 403
    assert client.get("/api/chat/history/1").status_code == 403


def test_a_post_without_the_csrf_token_is_refused(customer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer.user)
    response = client.post("/api/chat/message", {"text": "hi"}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["error"]["message"]


def test_message_starts_a_conversation_and_history_returns_it(llm, customer):
    client = Client()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.text("Hello! How can I help?"))

    response = client.post("/api/chat/message", {"text": "hi there"}, content_type="application/json")

    assert response.status_code == 200
    body = response.json()
    assert [message["text"] for message in body["messages"]] == ["Hello! How can I help?"]
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert conversation.customer == customer and conversation.channel == "api"
    history = client.get(f"/api/chat/history/{conversation.pk}").json()
    assert [(m["role"], m["text"]) for m in history["messages"]] == [
        ("user", "hi there"),
        ("assistant", "Hello! How can I help?"),
    ]


def test_another_customers_conversation_is_a_404_everywhere(llm, customer, conversation):
    intruder = make_customer()
    client = Client()
    client.force_login(intruder.user)

    assert client.get(f"/api/chat/history/{conversation.pk}").status_code == 404
    response = client.post(
        "/api/chat/message", {"text": "hi", "conversation_id": conversation.pk}, content_type="application/json"
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert not conversation.messages.exists() and llm.requests == []


def test_bad_input_gets_a_clear_400(customer):
    client = Client()
    client.force_login(customer.user)
    response = client.post("/api/chat/message", {"text": ""}, content_type="application/json")
    assert response.status_code == 400
    assert "text" in response.json()["error"]["fields"]


def test_confirm_through_the_api_runs_once_and_replays(llm, customer, probe_executions):
    client = Client()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.calls(("probe_write", {"note": "api"})), ScriptedLLM.text("Please confirm."))
    body = client.post("/api/chat/message", {"text": "write api"}, content_type="application/json").json()
    (action,) = body["pending_actions"]
    assert action["description"] == "Write the note “api” to your account"
    url = f"/api/chat/actions/{action['id']}/confirm"

    first = client.post(url, {"idempotency_key": action["idempotency_key"]}, content_type="application/json")
    second = client.post(url, {"idempotency_key": action["idempotency_key"]}, content_type="application/json")

    assert first.status_code == second.status_code == 200
    assert first.json()["replayed"] is False and second.json()["replayed"] is True
    assert second.json()["action"]["result"]["result"] == {"written": "api"}
    assert len(probe_executions) == 1
    wrong = client.post(url, {"idempotency_key": "not-the-key"}, content_type="application/json")
    assert wrong.status_code == 400
    declined = client.post(f"/api/chat/actions/{action['id']}/decline", content_type="application/json")
    assert declined.status_code == 409


def test_someone_elses_action_cannot_be_confirmed(llm, customer, probe_executions):
    client = Client()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.calls(("probe_write", {"note": "mine"})), ScriptedLLM.text("Confirm?"))
    client.post("/api/chat/message", {"text": "write mine"}, content_type="application/json")
    action = PendingAction.objects.get()
    intruder = make_customer()
    other = Client()
    other.force_login(intruder.user)

    assert other.post(f"/api/chat/actions/{action.pk}/confirm", content_type="application/json").status_code == 404
    assert other.post(f"/api/chat/actions/{action.pk}/decline", content_type="application/json").status_code == 404
    action.refresh_from_db()
    assert action.status == "proposed" and probe_executions == []


def test_feedback_on_an_answer(llm, customer):
    client = Client()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.text("An answer."))
    answer = client.post("/api/chat/message", {"text": "question"}, content_type="application/json").json()["messages"][
        0
    ]

    assert (
        client.post(
            "/api/chat/feedback", {"message_id": answer["id"], "rating": "up"}, content_type="application/json"
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/chat/feedback",
            {"message_id": answer["id"], "rating": "down", "comment": "wrong"},
            content_type="application/json",
        ).status_code
        == 201
    )
    assert list(Feedback.objects.values_list("rating", "comment")) == [("down", "wrong")]
    assert (
        client.post(
            "/api/chat/feedback", {"message_id": answer["id"], "rating": "meh"}, content_type="application/json"
        ).status_code
        == 400
    )
    intruder = make_customer()
    other = Client()
    other.force_login(intruder.user)
    assert (
        other.post(
            "/api/chat/feedback", {"message_id": answer["id"], "rating": "up"}, content_type="application/json"
        ).status_code
        == 404
    )


def test_analytics_is_staff_only_and_counts(llm, customer):
    client = Client()
    client.force_login(customer.user)
    llm.add(ScriptedLLM.calls(("probe_lookup", {"code": "x"})), ScriptedLLM.text("Done."))
    client.post("/api/chat/message", {"text": "look up x"}, content_type="application/json")
    assert client.get("/api/chat/analytics").status_code == 403

    staff = get_user_model().objects.create_user("lead", "lead@example.com", "lead-pass-123", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_support_dashboard"))
    client.force_login(staff)
    body = client.get("/api/chat/analytics").json()

    assert body["conversations"] == 1 and body["escalated"] == 0
    assert body["tools"] == [{"tool": "probe_lookup", "calls": 1, "failures": 0, "proposed": 0}]
    assert client.get("/api/chat/analytics?since=2026-13-01").status_code == 400
