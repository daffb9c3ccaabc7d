"""A typed "yes" confirms only what the assistant's latest message asked, on every channel.

The sequence a customer reported: a cancellation is proposed, the customer writes something
the assistant doesn't understand, the assistant offers a person ("just say yes"), and the
customer's "yes" cancelled the order instead. Here it must reach the person, the order stays
pending, and the card's own buttons still work. Also: a newer proposal for the same order
supersedes the older card, and eligibility is checked before a card is shown.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from assistant import actions
from assistant.tests.llm_server import ScriptedLLM
from assistant.tests.test_chat_command import typed
from assistant.tests.test_offline_dialogues import Store
from assistant.turn import chat_turn
from chat.models import Conversation, PendingAction
from chat.tests.conftest import make_customer
from orders.models import Order, PaymentMethod, SelfServiceRefund
from orders.tests.factories import PaymentMethodFactory, VariantFactory, make_order
from supportbot.errors import RuleViolation
from whatsapp.models import WhatsAppContact
from whatsapp.tests.conftest import (  # noqa: F401 - the WhatsApp suite's fixtures
    graph,
    graph_server,
    linked_contact,
    new_phone,
    notification,
    run_webhook,
    text_message,
)

pytestmark = pytest.mark.django_db

GIBBERISH = "hmm blorp"


@pytest.fixture
def store(settings: Any) -> Store:
    settings.LLM_BASE_URL = ""
    settings.LLM_MODEL = ""
    return Store()


@pytest.fixture
def llm_store(llm: ScriptedLLM) -> Store:
    """The same store, answered by the scripted LLM."""
    return Store()


def _refresh(order: Order) -> str:
    order.refresh_from_db()
    return order.status


# --- the offline assistant, through the turn service (web chat) -------------------------------


def test_yes_to_the_offer_of_a_person_does_not_cancel_the_order_proposed_earlier(store: Store) -> None:
    order = store.pending_headphones
    store.say(f"please cancel order {order.order_id}, I ordered it by mistake")
    [action] = store.proposed()

    offer = store.say(GIBBERISH)
    assert "person" in offer and "yes" in offer

    store.say("yes")

    assert _refresh(order) == Order.Status.PENDING
    store.conversation.refresh_from_db()
    assert store.conversation.status == Conversation.Status.ESCALATED
    action.refresh_from_db()
    assert action.status == PendingAction.Status.PROPOSED


def test_yes_after_an_unrelated_answer_confirms_nothing_and_the_card_still_works(store: Store) -> None:
    order = store.delivered
    store.say(f"i want to return the t-shirt from order {order.order_id}, refund to my visa")
    [action] = store.proposed()
    assert action.tool == "return_delivered_order_items"

    store.say("how long does shipping take?")
    reply = store.say("yes")

    assert _refresh(order) == Order.Status.DELIVERED
    assert "didn't ask you to confirm" in reply and "Confirm button" in reply
    # The card's button is still consent to exactly that action.
    actions.action_confirm(action_id=action.pk, customer=store.customer, idempotency_key=action.idempotency_key)
    assert _refresh(order) == Order.Status.RETURN_REQUESTED


def test_no_after_an_unrelated_answer_declines_nothing(store: Store) -> None:
    store.say(f"cancel {store.pending_tablet.order_id}, no longer needed")
    [action] = store.proposed()
    store.say("what payment methods do you accept?")
    store.say("no")
    action.refresh_from_db()
    assert action.status == PendingAction.Status.PROPOSED


def test_yes_right_after_the_card_still_confirms_it(store: Store) -> None:
    order = store.pending_tablet
    store.say(f"cancel {order.order_id}, no longer needed")
    store.say("yes")
    assert _refresh(order) == Order.Status.CANCELLED


# --- superseding -----------------------------------------------------------------------------


def test_a_newer_proposal_for_the_same_order_supersedes_the_older_card(llm, llm_store: Store, client: Client) -> None:
    store = llm_store
    order_id = store.pending_headphones.order_id
    llm.add(
        ScriptedLLM.calls(("cancel_pending_order", {"order_id": order_id, "reason": "no longer needed"})),
        ScriptedLLM.text("Shall I cancel it because you no longer need it?"),
        ScriptedLLM.calls(("cancel_pending_order", {"order_id": order_id, "reason": "ordered by mistake"})),
        ScriptedLLM.text("Shall I cancel it as ordered by mistake instead?"),
    )
    store.say(f"cancel {order_id}")
    [older] = store.proposed()
    store.say("actually I ordered it by mistake")
    [newer] = store.proposed()

    older.refresh_from_db()
    assert older.status == PendingAction.Status.SUPERSEDED and newer.pk != older.pk
    with pytest.raises(RuleViolation, match="newer request"):
        actions.action_confirm(action_id=older.pk, customer=store.customer, idempotency_key=older.idempotency_key)
    assert _refresh(store.pending_headphones) == Order.Status.PENDING

    client.force_login(store.customer.user)
    page = client.get(f"/chat/?c={store.conversation.pk}").content.decode()
    assert "Replaced" in page and "A newer request for the same order replaced this one" in page

    store.say("yes")
    assert _refresh(store.pending_headphones) == Order.Status.CANCELLED
    store.pending_headphones.refresh_from_db()
    assert store.pending_headphones.cancel_reason == "ordered by mistake"


# --- the LLM brain ---------------------------------------------------------------------------


def test_llm_yes_to_its_own_question_goes_to_the_model_not_to_the_earlier_card(
    llm, conversation, customer, probe_executions
):
    llm.add(
        ScriptedLLM.calls(("probe_write", {"note": "hello"})),
        ScriptedLLM.text("Shall I write “hello”?"),
        ScriptedLLM.text("I'm not sure what you mean. Would you like me to connect you with a person?"),
        ScriptedLLM.text("Okay, let me get a person for you."),
    )
    chat_turn(conversation=conversation, text="write hello", user=customer.user)
    chat_turn(conversation=conversation, text=GIBBERISH, user=customer.user)
    reply = chat_turn(conversation=conversation, text="yes", user=customer.user)

    assert reply[-1].text == "Okay, let me get a person for you."
    assert probe_executions == []
    assert PendingAction.objects.get().status == PendingAction.Status.PROPOSED
    # The model saw the customer's yes in the frame of its own question.
    assert llm.requests[-1]["messages"][-1] == {"role": "user", "content": "yes"}


# --- the JSON API, WhatsApp and the terminal --------------------------------------------------


def test_stale_yes_through_the_json_api_leaves_the_order_pending(store: Store) -> None:
    client = Client()
    client.force_login(store.customer.user)
    order = store.pending_headphones

    def say(text: str, conversation_id: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text}
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        response = client.post("/api/chat/message", body, content_type="application/json")
        assert response.status_code == 200, response.content
        return response.json()

    first = say(f"please cancel order {order.order_id}, I ordered it by mistake")
    assert [action["tool"] for action in first["pending_actions"]] == ["cancel_pending_order"]
    say(GIBBERISH, first["conversation_id"])
    last = say("yes", first["conversation_id"])

    assert _refresh(order) == Order.Status.PENDING
    assert last["status"] == Conversation.Status.ESCALATED


def test_stale_yes_over_whatsapp_leaves_the_order_pending(settings, client, graph, new_phone) -> None:  # noqa: F811
    settings.LLM_BASE_URL = ""
    settings.LLM_MODEL = ""
    customer = make_customer()
    order = make_order(
        customer=customer, variants=[VariantFactory()], payment_method=PaymentMethodFactory(customer=customer)
    )
    phone = new_phone()
    linked_contact(customer, phone)

    for text in (f"please cancel order {order.order_id}, I ordered it by mistake", GIBBERISH, "yes"):
        run_webhook(client, notification(messages=[text_message(phone, text)]))

    assert _refresh(order) == Order.Status.PENDING
    assert PendingAction.objects.get(customer=customer).status == PendingAction.Status.PROPOSED
    conversation = Conversation.objects.get(customer=customer)
    assert conversation.status == Conversation.Status.ESCALATED
    assert WhatsAppContact.objects.get(phone=phone).customer == customer


def test_stale_yes_in_manage_py_chat_leaves_the_order_pending_and_confirm_n_still_works(
    store: Store, monkeypatch
) -> None:
    order = store.pending_headphones
    typed(
        monkeypatch,
        [
            f"please cancel order {order.order_id}, I ordered it by mistake",
            "what payment methods do you accept?",
            "yes",
        ],
    )
    out = StringIO()
    call_command("chat", "--as", store.customer.handle, stdout=out)

    assert _refresh(order) == Order.Status.PENDING
    action = PendingAction.objects.get(customer=store.customer)
    assert f"still open (#{action.pk})" in out.getvalue() and f"/confirm {action.pk}" in out.getvalue()

    conversation = Conversation.objects.filter(customer=store.customer, channel=Conversation.Channel.TERMINAL).get()
    typed(monkeypatch, [f"/confirm {action.pk}"])
    out = StringIO()
    call_command("chat", "--as", store.customer.handle, "--conversation", str(conversation.pk), stdout=out)
    assert _refresh(order) == Order.Status.CANCELLED
    assert "Done — cancel order" in out.getvalue()


# --- eligibility before the card ---------------------------------------------------------------


def _use_up_refunds(customer: Any, settings: Any) -> None:
    settings.ORDERS_SELF_SERVICE_REFUND_LIMIT = 1
    earlier = make_order(
        customer=customer,
        variants=[VariantFactory()],
        payment_method=PaymentMethodFactory(customer=customer),
        status=Order.Status.CANCELLED,
    )
    SelfServiceRefund.objects.create(customer=customer, order=earlier, kind=SelfServiceRefund.Kind.CANCELLATION)


def test_offline_return_over_the_refund_limit_is_refused_before_any_question(store: Store, settings) -> None:
    _use_up_refunds(store.customer, settings)
    reply = store.say(f"i want to return order {store.delivered.order_id}")

    assert "refund(s) through self-service" in reply and "agent" in reply
    assert "Which item" not in reply and store.proposed() == []
    # The refusal offered a person; "yes" takes it.
    store.say("yes")
    store.conversation.refresh_from_db()
    assert store.conversation.status == Conversation.Status.ESCALATED


def test_llm_proposal_that_can_only_fail_shows_no_card(llm, llm_store: Store, settings) -> None:
    store = llm_store
    _use_up_refunds(store.customer, settings)
    visa = store.visa.payment_method_id
    llm.add(
        ScriptedLLM.calls(
            ("cancel_pending_order", {"order_id": store.delivered.order_id, "reason": "no longer needed"})
        ),
        ScriptedLLM.calls(
            (
                "return_delivered_order_items",
                {
                    "order_id": store.delivered.order_id,
                    "item_ids": [store.shirt_blue_m.item_id],
                    "payment_method_id": visa,
                },
            )
        ),
        ScriptedLLM.text("Sorry, I can't do either."),
    )
    store.say("cancel or return my delivered order")

    assert PendingAction.objects.filter(customer=store.customer).count() == 0
    results = [message for message in llm.requests[1]["messages"] if message["role"] == "tool"]
    assert "delivered" in results[0]["content"]
    assert (
        "refund_limit"
        in [message for message in llm.requests[2]["messages"] if message["role"] == "tool"][-1]["content"]
    )


def test_the_eligibility_rehearsal_leaves_nothing_behind(store: Store) -> None:
    order = store.delivered
    store.say(f"return the t-shirt from {order.order_id}, refund to my gift card")
    [action] = store.proposed()

    order.refresh_from_db()
    assert order.status == Order.Status.DELIVERED and order.return_items in (None, [])
    assert not SelfServiceRefund.objects.filter(customer=store.customer).exists()
    assert action.arguments["payment_method_id"] == PaymentMethod.objects.get(pk=store.gift.pk).payment_method_id


def test_an_expired_card_answered_with_yes_is_reported_not_run(store: Store) -> None:
    order = store.pending_tablet
    store.say(f"cancel {order.order_id}, no longer needed")
    [action] = store.proposed()
    PendingAction.objects.filter(pk=action.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    reply = store.say("yes")
    assert "expired" in reply and _refresh(order) == Order.Status.PENDING
