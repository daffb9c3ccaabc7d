"""Conversations over WhatsApp, in process: webhook → processing → chat_turn → Graph API.

The LLM is a scripted Chat Completions server and the Graph API a fake one, both real HTTP
servers on 127.0.0.1. Answers the scripted LLM gives are built from the tool results it
receives, so they show what the tools really returned to the assistant.
"""

from __future__ import annotations

from typing import Any

import pytest

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Conversation, PendingAction, ToolCallLog
from orders.models import Order
from orders.tests.factories import PaymentMethodFactory, VariantFactory, make_order
from whatsapp.models import InboundEvent, OutboundMessage, WhatsAppContact
from whatsapp.tests.conftest import (
    button_message,
    linked_contact,
    make_account,
    notification,
    run_webhook,
    text_message,
    tool_results,
)

pytestmark = pytest.mark.django_db


def shipped_order(customer) -> Order:
    variant = VariantFactory(product__name="Trail Backpack")
    return make_order(
        customer=customer,
        variants=[variant],
        payment_method=PaymentMethodFactory(customer=customer),
        status=Order.Status.PROCESSED,
    )


def answer_from_tracking(body: dict[str, Any]) -> Any:
    (result,) = tool_results(body)
    shipment = result["shipments"][0]
    return ScriptedLLM.text(
        f"Your order **{result['order_id']}** is ~~pending~~ {result['status']}.\n\n"
        f"- Carrier: {shipment['carrier']}\n- Tracking: `{shipment['tracking_ids'][0]}`\n\n"
        "See [shipping times](/help/shipping-policy#times)."
    )


def test_a_linked_number_tracks_its_order_in_whatsapp_formatting(client, graph, llm, new_phone):
    customer = make_account()
    order = shipped_order(customer)
    phone = new_phone()
    linked_contact(customer, phone)
    llm.add(ScriptedLLM.calls(("track_order", {"order_id": order.order_id})), answer_from_tracking)

    run_webhook(client, notification(messages=[text_message(phone, f"Where is my order {order.order_id}?")]))

    (result,) = tool_results(llm.requests[1])
    assert result["order_id"] == order.order_id and result["shipments"][0]["tracking_ids"] == ["123456789012"]
    (sent,) = graph.delivered()
    assert sent.to == phone and sent.body["type"] == "text"
    assert sent.text == (
        f"Your order *{order.order_id}* is ~pending~ processed.\n\n"
        "- Carrier: UPS\n- Tracking: ```123456789012```\n\n"
        "See shipping times (https://support.cobalt.example/help/shipping-policy#times)."
    )
    assert sent.authorization == "Bearer test-access-token"
    assert sent.path == "/v21.0/109876543210/messages"
    conversation = Conversation.objects.get(customer=customer)
    assert conversation.channel == "whatsapp"
    assert list(conversation.messages.values_list("role", flat=True)) == ["user", "assistant", "tool", "assistant"]
    outbound = OutboundMessage.objects.get()
    assert (outbound.status, outbound.wamid, outbound.attempts, outbound.conversation_id) == (
        "sent",
        sent.wamid,
        1,
        conversation.pk,
    )
    assert InboundEvent.objects.get().state == "processed"

    # The follow-up lands in the same conversation.
    llm.add(ScriptedLLM.text("You're welcome!"))
    run_webhook(client, notification(messages=[text_message(phone, "Thanks!")]))
    assert graph.delivered()[-1].text == "You're welcome!"
    assert Conversation.objects.filter(customer=customer).count() == 1


def test_an_unlinked_number_is_refused_order_details_and_told_how_to_link(client, graph, llm, new_phone):
    owner = make_account()
    order = shipped_order(owner)
    phone = new_phone()
    llm.add(
        ScriptedLLM.calls(
            ("track_order", {"order_id": order.order_id}), ("get_order_details", {"order_id": order.order_id})
        ),
        ScriptedLLM.text("Sorry, I can't see that order from here."),
    )

    run_webhook(client, notification(messages=[text_message(phone, f"Where is order {order.order_id}?")]))

    results = tool_results(llm.requests[1])
    assert [result["error"]["code"] for result in results] == ["unverified", "unverified"]
    assert "processed" not in str(results) and "123456789012" not in str(results)
    assert set(ToolCallLog.objects.values_list("error_code", flat=True)) == {"unverified"}
    answer, how_to_link = graph.delivered()
    assert answer.text == "Sorry, I can't see that order from here."
    assert "link you@example.com" in how_to_link.text
    assert "http" not in how_to_link.text  # linking happens here in WhatsApp, by an emailed code
    contact = WhatsAppContact.objects.get(phone=phone)
    assert not contact.is_verified and contact.customer is None
    # The guest chats as its own placeholder customer, never as the order's owner.
    assert Conversation.objects.get().customer == contact.guest_customer != owner


def test_an_unlinked_number_gets_general_answers_from_public_tools(client, graph, llm, new_phone):
    variant = VariantFactory(product__name="Trail Backpack", stock_quantity=4)
    llm.add(
        ScriptedLLM.calls(("check_stock", {"item_id": variant.item_id})),
        lambda body: ScriptedLLM.text(f"In stock: {tool_results(body)[0]}"),
    )

    run_webhook(client, notification(messages=[text_message(new_phone(), "Is the trail backpack in stock?")]))

    (result,) = tool_results(llm.requests[1])
    assert "error" not in result
    (sent,) = graph.delivered()
    assert sent.text.startswith("In stock:")
    assert ToolCallLog.objects.get().ok


def test_an_unlinked_number_cannot_get_a_consequential_action_proposed(client, graph, llm, new_phone):
    owner = make_account()
    variant = VariantFactory()
    order = make_order(customer=owner, variants=[variant], payment_method=PaymentMethodFactory(customer=owner))
    llm.add(
        ScriptedLLM.calls(("cancel_pending_order", {"order_id": order.order_id, "reason": "no longer needed"})),
        ScriptedLLM.text("I can't do that here."),
    )

    run_webhook(client, notification(messages=[text_message(new_phone(), f"Cancel {order.order_id}")]))

    (result,) = tool_results(llm.requests[1])
    assert result["error"]["code"] == "unverified"
    assert not PendingAction.objects.exists()
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING


def propose_cancel(client, graph, llm, phone: str, order: Order) -> list[dict[str, str]]:
    llm.add(
        ScriptedLLM.calls(("cancel_pending_order", {"order_id": order.order_id, "reason": "no longer needed"})),
        ScriptedLLM.text(f"I can cancel **{order.order_id}** and refund it. Shall I go ahead?"),
    )
    run_webhook(client, notification(messages=[text_message(phone, f"Please cancel {order.order_id}")]))
    (card,) = graph.delivered()
    assert card.body["type"] == "interactive" and card.body["interactive"]["type"] == "button"
    assert card.text == f"I can cancel *{order.order_id}* and refund it. Shall I go ahead?"
    return card.buttons


def test_a_cancel_confirmed_with_the_reply_button_runs_once_though_the_event_comes_twice(client, graph, llm, new_phone):
    customer = make_account()
    order = make_order(
        customer=customer, variants=[VariantFactory()], payment_method=PaymentMethodFactory(customer=customer)
    )
    phone = new_phone()
    linked_contact(customer, phone)
    confirm, cancel = propose_cancel(client, graph, llm, phone, order)
    action = PendingAction.objects.get()
    assert [confirm["title"], cancel["title"]] == ["Confirm", "Cancel"]
    assert confirm["id"] == f"pa:{action.pk}:{action.idempotency_key}:y"

    tap = button_message(phone, confirm["id"], "Confirm")
    run_webhook(client, notification(messages=[tap]))
    run_webhook(client, notification(messages=[tap]))  # Meta redelivers the same event

    order.refresh_from_db()
    action.refresh_from_db()
    assert order.status == Order.Status.CANCELLED and action.status == PendingAction.Status.CONFIRMED
    assert ToolCallLog.objects.filter(tool="cancel_pending_order", source="confirmation").count() == 1
    assert InboundEvent.objects.filter(key=tap["id"]).count() == 1
    replies = graph.delivered()[1:]
    assert len(replies) == 1 and replies[0].text.startswith("Done — ")

    # A second, separate tap on the same button (a new message id) changes nothing either.
    run_webhook(client, notification(messages=[button_message(phone, confirm["id"], "Confirm")]))
    assert graph.delivered()[-1].text == "That was already done — nothing more has changed."
    assert ToolCallLog.objects.filter(tool="cancel_pending_order", source="confirmation").count() == 1


def test_the_cancel_button_declines_and_nothing_runs(client, graph, llm, new_phone):
    customer = make_account()
    order = make_order(
        customer=customer, variants=[VariantFactory()], payment_method=PaymentMethodFactory(customer=customer)
    )
    phone = new_phone()
    linked_contact(customer, phone)
    _, cancel = propose_cancel(client, graph, llm, phone, order)

    run_webhook(client, notification(messages=[button_message(phone, cancel["id"], "Cancel")]))

    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert PendingAction.objects.get().status == PendingAction.Status.DECLINED
    assert graph.delivered()[-1].text.startswith("Okay, I won't do that.")


def test_someone_elses_action_button_is_refused(client, graph, llm, new_phone):
    customer = make_account()
    order = make_order(
        customer=customer, variants=[VariantFactory()], payment_method=PaymentMethodFactory(customer=customer)
    )
    phone = new_phone()
    linked_contact(customer, phone)
    confirm, _ = propose_cancel(client, graph, llm, phone, order)

    # Another (unlinked) number replays the button id it somehow learned.
    run_webhook(client, notification(messages=[button_message(new_phone(), confirm["id"], "Confirm")]))

    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert graph.delivered()[-1].text == "That action was not found."


def test_a_long_answer_is_split_at_the_whatsapp_limit(client, graph, llm, new_phone):
    paragraphs = [f"Paragraph {index}: " + "lorem ipsum " * 60 for index in range(12)]
    llm.add(ScriptedLLM.text("\n\n".join(paragraphs)))

    run_webhook(client, notification(messages=[text_message(new_phone(), "Tell me everything about returns")]))

    parts = graph.delivered()
    assert len(parts) >= 2 and all(len(part.text) <= 4096 for part in parts)
    assert "\n\n".join(part.text for part in parts) == "\n\n".join(paragraph.strip() for paragraph in paragraphs)


def test_a_message_type_we_cannot_read_gets_a_polite_answer(client, graph, new_phone):
    image = {
        "from": new_phone(),
        "id": "wamid.in.image",
        "timestamp": "1700000000",
        "type": "image",
        "image": {"id": "1"},
    }
    run_webhook(client, notification(messages=[image]))
    (sent,) = graph.delivered()
    assert "text messages" in sent.text
