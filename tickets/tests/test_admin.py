"""The staff side in Django admin over the real HTTP stack: permissions, the ticket page,
replies/notes, suggested replies, summaries, list filters, search and bulk actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Message, PendingAction
from orders.tests.factories import OrderFactory, PaymentMethodFactory
from tickets import staff_services
from tickets.models import Ticket, TicketEvent
from tickets.tests.conftest import PASSWORD, make_customer, make_staff

pytestmark = pytest.mark.django_db


def login(client, user):
    assert client.login(username=user.get_username(), password=PASSWORD)
    return client


def change_url(ticket):
    return reverse("admin:tickets_ticket_change", args=[ticket.pk])


# --- permissions -----------------------------------------------------------------------


def test_a_customer_cannot_reach_admin_or_the_dashboard(client, customer, escalated):
    login(client, customer.user)
    for url in (
        reverse("admin:index"),
        change_url(escalated),
        reverse("admin:tickets_dashboard"),
        reverse("admin:tickets_dashboard_csv"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_an_agent_works_tickets_but_cannot_delete_or_see_reports(client, agent, escalated):
    login(client, agent)
    assert client.get(change_url(escalated)).status_code == 200
    assert client.get(reverse("admin:tickets_ticket_delete", args=[escalated.pk])).status_code == 403
    response = client.post(
        reverse("admin:tickets_ticket_changelist"),
        {"action": "delete_selected", "_selected_action": [escalated.pk], "post": "yes"},
    )
    assert Ticket.objects.filter(pk=escalated.pk).exists()
    customer_delete = reverse("admin:orders_customer_delete", args=[escalated.customer_id])
    assert client.get(customer_delete).status_code == 403
    assert client.get(reverse("admin:tickets_dashboard")).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert "Support analytics dashboard" not in index
    assert response.status_code in (200, 302)


def test_a_lead_sees_the_dashboard_linked_from_the_admin_index(client, lead):
    login(client, lead)
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:tickets_dashboard") in index
    assert client.get(reverse("admin:tickets_dashboard")).status_code == 200


# --- the ticket page -------------------------------------------------------------------


def test_ticket_page_shows_transcript_actions_citations_and_masked_customer_context(client, agent, escalated, customer):
    conversation = escalated.conversation
    answer = Message.objects.create(
        conversation=conversation,
        role="assistant",
        text="Refunds take 5-7 days [1].",
        citations=[{"ref": 1, "title": "Refund policy", "heading": "Timing", "url": "/help/refunds#timing"}],
        tool_calls=[{"id": "c1", "name": "get_order_details", "arguments": {"order_id": "#W1"}}],
    )
    Message.objects.create(
        conversation=conversation,
        role="tool",
        tool_result={"tool_call_id": "c1", "name": "get_order_details", "ok": True, "result": {"status": "delivered"}},
    )
    PendingAction.objects.create(
        conversation=conversation,
        customer=customer,
        message=answer,
        tool="cancel_pending_order",
        arguments={},
        description="Cancel order #W8000001",
        idempotency_key="k-1",
        expires_at=timezone.now() + timedelta(minutes=30),
    )
    card = PaymentMethodFactory(customer=customer, last_four="9876", brand="visa")
    OrderFactory(customer=customer, order_id="#W7777777", status="delivered")

    page = login(client, agent).get(change_url(escalated)).content.decode()

    assert "I want to talk to a person about my refund" in page
    assert "Refund policy" in page and "/help/refunds#timing" in page
    assert "get_order_details" in page and "delivered" in page
    assert "Cancel order #W8000001" in page and "Awaiting confirmation" in page
    assert "#W7777777" in page and "•••• 9876" in page
    assert card.payment_method_id not in page  # payment methods are masked
    assert escalated.summary.splitlines()[0] in page


def test_public_reply_from_the_admin_page(client, agent, escalated, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = login(client, agent).post(
            reverse("admin:tickets_ticket_reply", args=[escalated.pk]),
            {"text": "We refunded your order.", "visibility": "public"},
        )
    assert response.status_code == 302 and len(callbacks) == 1
    event = escalated.events.get(kind=TicketEvent.Kind.PUBLIC_REPLY)
    assert event.author == agent and event.message.model == staff_services.STAFF_MODEL


def test_internal_note_from_the_admin_page(client, agent, escalated):
    login(client, agent).post(
        reverse("admin:tickets_ticket_reply", args=[escalated.pk]),
        {"text": "check with warehouse", "visibility": "note"},
    )
    event = escalated.events.get()
    assert event.kind == TicketEvent.Kind.INTERNAL_NOTE and event.message is None


def test_an_empty_reply_is_refused_with_a_message(client, agent, escalated):
    response = login(client, agent).post(
        reverse("admin:tickets_ticket_reply", args=[escalated.pk]), {"text": "", "visibility": "public"}, follow=True
    )
    assert "This field is required" in response.content.decode() and not escalated.events.exists()


def test_suggest_reply_offline_uses_the_conversation_and_orders(client, agent, escalated, customer, settings):
    settings.LLM_BASE_URL = ""
    OrderFactory(customer=customer, order_id="#W5550001", status="delivered")
    from assistant.turn import chat_turn
    from tickets.tests.conftest import make_staff  # noqa: F401 - keeps the fixture module imported

    staff_services.ticket_assign(ticket_id=escalated.pk, actor=agent, assignee=agent)
    chat_turn(conversation=escalated.conversation, text="Where is order #W5550001?", user=customer.user)

    login(client, agent).post(reverse("admin:tickets_ticket_suggest", args=[escalated.pk]))
    page = client.get(change_url(escalated)).content.decode()

    assert "Suggested draft" in page and "offline" in page
    assert f"Hi {customer.first_name}" in page and "#W5550001" in page and "delivered" in page
    assert "Alex" in page  # signed by the agent


def test_suggest_reply_uses_the_llm_when_configured(client, agent, escalated, llm):
    llm.add(ScriptedLLM.text("Hi! Your refund was issued yesterday. — Alex"))
    login(client, agent).post(reverse("admin:tickets_ticket_suggest", args=[escalated.pk]))
    page = client.get(change_url(escalated)).content.decode()

    assert "Your refund was issued yesterday." in page and "by the LLM" in page
    prompt = " ".join(str(m.get("content")) for m in llm.requests[0]["messages"])
    assert "talk to a person about my refund" in prompt and escalated.number in prompt


def test_regenerate_summary_queues_the_llm_job_and_says_it_is_on_the_way(
    client, agent, escalated, django_capture_on_commit_callbacks
):
    # The job itself runs in a worker: tickets/tests/test_summary_job.py.
    login(client, agent)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("admin:tickets_ticket_summary", args=[escalated.pk]), follow=True)
    assert [
        cell.cell_contents.name
        for callback in callbacks
        for cell in callback.__closure__
        if hasattr(cell.cell_contents, "name")
    ] == ["tickets.summarize_ticket"]
    page = response.content.decode()
    assert "A new summary is being written" in page and "A new summary is on the way (asked for by alex" in page
    request = escalated.events.get(kind=TicketEvent.Kind.SUMMARY)
    assert (request.author, request.new_value) == (agent, "requested")


def test_summary_refresh_offline_keeps_the_reason_and_the_assistants_hint(escalated, settings):
    from assistant.staff import ticket_summary_refresh

    settings.LLM_BASE_URL = ""
    Ticket.objects.filter(pk=escalated.pk).update(
        summary="Why escalated: The assistant transferred the conversation.\nAssistant's summary: Wants a refund."
    )
    Message.objects.create(conversation=escalated.conversation, role="user", text="Also, the parcel was late.")
    ticket = ticket_summary_refresh(ticket_id=escalated.pk)
    # An older ticket's hint keeps its place, now under the label that says it is the AI's words.
    assert ticket.summary.startswith(
        "Why escalated: The assistant transferred the conversation.\nThe assistant's summary (written by the AI; may be wrong): Wants a refund."
    )
    assert "Also, the parcel was late." in ticket.summary and ticket.conversation.summary == ticket.summary
    assert list(ticket.events.values_list("kind", "new_value", "author")) == [("summary", "offline", None)]


def test_a_summary_of_an_older_state_never_replaces_a_newer_one(escalated):
    from tickets.services import ticket_summary_store

    now = timezone.now()
    ticket_summary_store(ticket_id=escalated.pk, summary="newer", source="llm", generated_since=now)
    ticket_summary_store(
        ticket_id=escalated.pk, summary="older, finished last", source="llm", generated_since=now - timedelta(seconds=5)
    )
    escalated.refresh_from_db()
    assert escalated.summary == "newer" and escalated.events.filter(kind=TicketEvent.Kind.SUMMARY).count() == 1


def test_editing_status_in_the_form_goes_through_the_services(client, agent, escalated):
    login(client, agent)
    # A priority other than the one escalation chose, so the change is a change.
    new_priority = "low" if escalated.priority != "low" else "high"
    data = {
        "subject": escalated.subject,
        "category": "refund",
        "status": "resolved",
        "priority": new_priority,
        "assignee": agent.pk,
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "1000",
    }
    response = client.post(change_url(escalated), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    escalated.refresh_from_db()
    assert (escalated.status, escalated.priority, escalated.assignee, escalated.category) == (
        "resolved",
        new_priority,
        agent,
        "refund",
    )
    kinds = set(escalated.events.values_list("kind", flat=True))
    assert {"status_change", "priority_change", "assignee_change"} <= kinds
    escalated.conversation.refresh_from_db()
    assert escalated.conversation.status == "open"  # handed back


# --- the list --------------------------------------------------------------------------


def _second_ticket():
    from chat.models import Conversation
    from tickets.services import ticket_create_from_conversation

    other = make_customer(email="zed@example.com")
    conversation = Conversation.objects.create(customer=other)
    return ticket_create_from_conversation(
        conversation=conversation, subject="Broken lamp", summary="lamp arrived broken", priority="low"
    )


def test_list_filters_and_search(client, agent, escalated):
    other = _second_ticket()
    Ticket.objects.filter(pk=escalated.pk).update(sla_due_at=timezone.now() - timedelta(hours=1))
    staff_services.ticket_assign(ticket_id=other.pk, actor=agent, assignee=agent)
    login(client, agent)
    url = reverse("admin:tickets_ticket_changelist")

    def numbers(params):
        return {ticket.number for ticket in client.get(url, params).context["cl"].result_list}

    assert numbers({"sla": "breached"}) == {escalated.number}
    assert numbers({"assignee": "me"}) == {other.number}
    assert numbers({"assignee": "none"}) == {escalated.number}
    assert numbers({"priority__exact": "low"}) == {other.number}
    assert numbers({"q": "zed@example.com"}) == {other.number}
    assert numbers({"q": escalated.number}) == {escalated.number}
    staff_services.ticket_note(ticket_id=other.pk, author=agent, text="warehouse says parcel is in Denver")
    assert numbers({"q": "Denver"}) == {other.number}


def test_bulk_actions_assign_prioritise_and_resolve(client, agent, escalated):
    other = _second_ticket()
    login(client, agent)
    url = reverse("admin:tickets_ticket_changelist")
    both = [escalated.pk, other.pk]

    client.post(url, {"action": "assign_to_me", "_selected_action": both})
    client.post(url, {"action": "priority_urgent", "_selected_action": both})
    client.post(url, {"action": "resolve", "_selected_action": both})

    for ticket in Ticket.objects.filter(pk__in=both):
        assert (ticket.assignee, ticket.priority, ticket.status) == (agent, "urgent", "resolved")
        assert set(ticket.events.values_list("kind", flat=True)) >= {
            "assignee_change",
            "priority_change",
            "status_change",
        }


# --- the admin home and conversations ------------------------------------------------------


def test_the_admin_home_lists_support_apps_first_and_technical_ones_last(rf, agent):
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = make_staff("root", group=None, superuser=True)
    labels = [app["app_label"] for app in admin.site.get_app_list(request)]
    assert labels[:4] == ["tickets", "chat", "orders", "knowledge"]
    assert labels[-3:] == ["auth", "axes", "django_celery_beat"]
    orders = next(app for app in admin.site.get_app_list(request) if app["app_label"] == "orders")
    assert [model["object_name"] for model in orders["models"]][:2] == ["Order", "Customer"]


def test_an_agent_reads_conversations_and_reaches_their_tickets(client, agent, escalated):
    login(client, agent)
    listing = client.get(reverse("admin:chat_conversation_changelist")).content.decode()
    assert escalated.customer.full_name in listing
    page = client.get(reverse("admin:chat_conversation_change", args=[escalated.conversation_id])).content.decode()
    assert "I want to talk to a person about my refund" in page
    tickets = client.get(
        reverse("admin:tickets_ticket_changelist") + f"?conversation__id__exact={escalated.conversation_id}"
    )
    assert tickets.status_code == 200 and escalated.number in tickets.content.decode()
    assert client.post(reverse("admin:chat_conversation_delete", args=[escalated.conversation_id])).status_code == 403
