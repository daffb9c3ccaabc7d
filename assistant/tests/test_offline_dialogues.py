"""Scripted multi-turn conversations with the offline assistant, end to end on the real database.

Each test talks through `chat_turn` (the same entry point as the web chat) with no LLM
configured, so the offline brain answers: the NLU model, the dialogue state, the real tools,
PendingActions confirmed by "yes", the help center retrieval and ticket escalation.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from assistant.turn import chat_turn
from chat.models import Conversation, Message, PendingAction
from chat.models_offline import DialogueState
from chat.tests.conftest import make_customer
from orders.models import Order, PaymentMethod, RestockSubscription
from orders.tests.factories import PaymentMethodFactory, ProductFactory, VariantFactory, make_order

pytestmark = pytest.mark.django_db


class Store:
    """A customer with four orders in different states, and someone else's order."""

    def __init__(self) -> None:
        now = timezone.now()
        self.customer = make_customer(first_name="Maya", last_name="Lopez")
        self.visa = PaymentMethodFactory(customer=self.customer, brand="visa", last_four="4242")
        self.gift = PaymentMethodFactory(
            customer=self.customer, source=PaymentMethod.Source.GIFT_CARD, balance=Decimal("500.00")
        )
        shirt = ProductFactory(name="T-Shirt", product_type="T-Shirt")
        self.shirt_blue_m = VariantFactory(
            product=shirt, options={"color": "blue", "size": "M"}, price=Decimal("20.00")
        )
        self.shirt_blue_l = VariantFactory(
            product=shirt, options={"color": "blue", "size": "L"}, price=Decimal("21.00")
        )
        self.shirt_red_m = VariantFactory(
            product=shirt, options={"color": "red", "size": "M"}, price=Decimal("22.00"), stock_quantity=0
        )
        headphones = ProductFactory(name="Headphones", product_type="Headphones")
        self.headphones_black = VariantFactory(
            product=headphones, options={"color": "black", "connectivity": "wireless"}, price=Decimal("150.00")
        )
        self.headphones_white = VariantFactory(
            product=headphones,
            options={"color": "white", "connectivity": "wireless"},
            price=Decimal("155.00"),
            stock_quantity=0,
        )
        shoes = ProductFactory(name="Running Shoes", product_type="Running Shoes")
        self.shoes_9 = VariantFactory(product=shoes, options={"size": "9", "color": "red"}, price=Decimal("90.00"))
        self.shoes_10 = VariantFactory(product=shoes, options={"size": "10", "color": "red"}, price=Decimal("90.00"))
        laptop = ProductFactory(name="Laptop", product_type="Laptop")
        self.laptop = VariantFactory(
            product=laptop, options={"ram": "16GB", "color": "silver"}, price=Decimal("999.00")
        )
        tablet = ProductFactory(name="Tablet", product_type="Tablet")
        self.tablet = VariantFactory(
            product=tablet, options={"storage": "64GB", "color": "black"}, price=Decimal("299.00")
        )

        self.pending_headphones = make_order(
            customer=self.customer,
            variants=[self.headphones_black],
            payment_method=self.visa,
            created_at=now - timedelta(days=1),
        )
        self.pending_tablet = make_order(
            customer=self.customer, variants=[self.tablet], payment_method=self.visa, created_at=now - timedelta(days=3)
        )
        self.delivered = make_order(
            customer=self.customer,
            variants=[self.shirt_blue_m, self.shoes_9],
            payment_method=self.visa,
            status=Order.Status.DELIVERED,
            created_at=now - timedelta(days=20),
        )
        self.processed = make_order(
            customer=self.customer,
            variants=[self.shoes_10],
            payment_method=self.visa,
            status=Order.Status.PROCESSED,
            created_at=now - timedelta(days=2),
        )
        other = make_customer(first_name="Olaf", last_name="Berg")
        other_card = PaymentMethodFactory(customer=other, brand="mastercard", last_four="1111")
        self.foreign = make_order(customer=other, variants=[self.headphones_black], payment_method=other_card)
        self.conversation = Conversation.objects.create(customer=self.customer)

    def say(self, text: str) -> str:
        messages = chat_turn(conversation=self.conversation, text=text, user=self.customer.user)
        return "\n".join(message.text for message in messages)

    def last_answer(self) -> Message:
        return (
            Message.objects.filter(conversation=self.conversation, role=Message.Role.ASSISTANT).order_by("-id").first()
        )

    def proposed(self) -> list[PendingAction]:
        return list(PendingAction.objects.filter(conversation=self.conversation, status=PendingAction.Status.PROPOSED))


@pytest.fixture
def store(settings: Any) -> Store:
    settings.LLM_BASE_URL = ""
    settings.LLM_MODEL = ""
    return Store()


@pytest.fixture
def help_center(tmp_path: Path) -> None:
    from knowledge.services import document_ingest_path

    source = Path(settings.BASE_DIR) / "knowledge" / "content"
    for name in (
        "returns-and-refunds.md",
        "refund-timing.md",
        "payment-methods-and-gift-cards.md",
        "tracking-your-order.md",
    ):
        shutil.copy(source / name, tmp_path / name)
    document_ingest_path(path=tmp_path)


# --- orders --------------------------------------------------------------------------------


def test_track_an_order_described_loosely(store: Store) -> None:
    reply = store.say("where are my headphones? havent got them yet")
    assert store.pending_headphones.order_id in reply
    assert "pending" in reply


def test_track_asks_which_order_then_uses_the_description(store: Store) -> None:
    reply = store.say("Where is my order?")
    assert "Which order" in reply and store.delivered.order_id in reply
    reply = store.say("the one with the running shoes size 10")
    assert store.processed.order_id in reply and "UPS" in reply and "123456789012" in reply


def test_typo_laden_tracking_request(store: Store) -> None:
    reply = store.say(f"wher is my ordr {store.processed.order_id.lower().replace('#', '')} pls??")
    assert store.processed.order_id in reply and "in transit" in reply


def test_cancel_asks_for_the_reason_then_confirms_once(store: Store) -> None:
    reply = store.say(f"I want to cancel order {store.pending_headphones.order_id}")
    assert "no longer needed" in reply and "ordered by mistake" in reply
    assert store.proposed() == []
    reply = store.say("i dont need it anymore")
    [action] = store.proposed()
    assert action.tool == "cancel_pending_order"
    assert action.arguments == {"order_id": store.pending_headphones.order_id, "reason": "no longer needed"}
    assert "yes" in reply.lower()
    store.say("yes")
    store.pending_headphones.refresh_from_db()
    assert store.pending_headphones.status == Order.Status.CANCELLED
    assert store.pending_headphones.cancel_reason == "no longer needed"


def test_cancel_declined_leaves_the_order_alone(store: Store) -> None:
    store.say(f"please cancel {store.pending_tablet.order_id}, I ordered it by mistake")
    [action] = store.proposed()
    assert action.arguments["reason"] == "ordered by mistake"
    store.say("no")
    action.refresh_from_db()
    assert action.status == PendingAction.Status.DECLINED
    store.pending_tablet.refresh_from_db()
    assert store.pending_tablet.status == Order.Status.PENDING


def test_correction_mid_form_switches_to_the_other_order(store: Store) -> None:
    reply = store.say("cancel my headphones order")
    assert store.pending_headphones.order_id in reply and "why" in reply.lower()
    reply = store.say("no, the other order")
    assert store.pending_tablet.order_id in reply
    store.say("ordered by mistake")
    [action] = store.proposed()
    assert action.arguments == {"order_id": store.pending_tablet.order_id, "reason": "ordered by mistake"}


def test_correction_after_the_proposal_replaces_it(store: Store) -> None:
    store.say(f"cancel {store.pending_headphones.order_id}, no longer needed")
    [first] = store.proposed()
    store.say("no wait, the other order")
    [second] = store.proposed()
    first.refresh_from_db()
    # Replaced, not declined: its card says a newer request took its place.
    assert first.status == PendingAction.Status.SUPERSEDED
    assert second.arguments["order_id"] == store.pending_tablet.order_id
    store.say("yes")
    store.pending_tablet.refresh_from_db()
    store.pending_headphones.refresh_from_db()
    assert store.pending_tablet.status == Order.Status.CANCELLED
    assert store.pending_headphones.status == Order.Status.PENDING


def test_cancel_a_delivered_order_is_explained(store: Store) -> None:
    reply = store.say(f"cancel order {store.delivered.order_id} please")
    assert "delivered" in reply and "return" in reply
    assert store.proposed() == []


def test_someone_elses_order_is_refused(store: Store) -> None:
    reply = store.say(f"cancel order {store.foreign.order_id}, I don't need it")
    assert "couldn't find" in reply.lower()
    assert store.proposed() == []
    reply = store.say(f"where is order {store.foreign.order_id}?")
    assert "couldn't find" in reply.lower() and "UPS" not in reply
    store.foreign.refresh_from_db()
    assert store.foreign.status == Order.Status.PENDING


def test_return_two_items_with_the_refund_method_asked(store: Store) -> None:
    reply = store.say("I'd like to return the t-shirt and the running shoes")
    assert "gift card" in reply.lower() and "Visa ending 4242" in reply
    reply = store.say("to my gift card please")
    [action] = store.proposed()
    assert action.tool == "return_delivered_order_items"
    assert sorted(action.arguments["item_ids"]) == sorted([store.shirt_blue_m.item_id, store.shoes_9.item_id])
    assert action.arguments["payment_method_id"] == store.gift.payment_method_id
    store.say("yes")
    store.delivered.refresh_from_db()
    assert store.delivered.status == Order.Status.RETURN_REQUESTED
    assert store.delivered.return_payment_method_id == store.gift.pk


def test_return_asks_which_items(store: Store) -> None:
    reply = store.say("i want to send something back")
    assert "Which items" in reply and "T-Shirt" in reply and "Running Shoes" in reply
    store.say("just the shoes")
    reply = store.say("original payment method")
    [action] = store.proposed()
    assert action.arguments["item_ids"] == [store.shoes_9.item_id]
    assert action.arguments["payment_method_id"] == store.visa.payment_method_id
    assert "Here's what I'll do" in reply


def test_exchange_to_another_size(store: Store) -> None:
    reply = store.say("can I exchange my t-shirt for a size L?")
    [action] = store.proposed()
    assert action.tool == "exchange_delivered_order_items"
    assert action.arguments["item_ids"] == [store.shirt_blue_m.item_id]
    assert action.arguments["new_item_ids"] == [store.shirt_blue_l.item_id]
    assert "$1.00" in reply
    store.say("yes")
    store.delivered.refresh_from_db()
    assert store.delivered.status == Order.Status.EXCHANGE_REQUESTED


def test_exchange_asks_for_the_new_option(store: Store) -> None:
    reply = store.say("I need to exchange the t-shirt from my order")
    assert "instead" in reply and "size: L" in reply
    store.say("large please")
    [action] = store.proposed()
    assert action.arguments["new_item_ids"] == [store.shirt_blue_l.item_id]


def test_change_shipping_address_of_a_pending_order(store: Store) -> None:
    reply = store.say(f"I need to change the shipping address on {store.pending_tablet.order_id}")
    assert "new shipping address" in reply
    store.say("12 Oak St, Apt 4, Denver, CO 80202, USA")
    [action] = store.proposed()
    assert action.tool == "modify_pending_order_address"
    assert action.arguments["city"] == "Denver" and action.arguments["zip"] == "80202"
    store.say("yes")
    store.pending_tablet.refresh_from_db()
    assert store.pending_tablet.address1 == "12 Oak St" and store.pending_tablet.state == "CO"


def test_refund_request_for_a_pending_order_becomes_a_cancellation(store: Store) -> None:
    reply = store.say(f"I want my money back for {store.pending_tablet.order_id}")
    assert "why" in reply.lower()
    store.say("changed my mind")
    [action] = store.proposed()
    assert action.tool == "cancel_pending_order" and action.arguments["reason"] == "no longer needed"


# --- catalog --------------------------------------------------------------------------------


def test_unavailable_variant_offers_a_restock_alert(store: Store) -> None:
    reply = store.say("is the red t-shirt in size M in stock?")
    assert "out of stock" in reply and "email you" in reply
    reply = store.say("yes please")
    assert "back in stock" in reply
    assert RestockSubscription.objects.filter(
        customer=store.customer, variant=store.shirt_red_m, status="active"
    ).exists()


def test_available_variant_is_reported_with_price(store: Store) -> None:
    reply = store.say("do you have the blue t-shirt in L?")
    assert "$21.00" in reply and "in stock" in reply


def test_explicit_restock_alert_request(store: Store) -> None:
    reply = store.say("notify me when the white headphones are back")
    assert "email you" in reply
    assert RestockSubscription.objects.filter(customer=store.customer, variant=store.headphones_white).exists()


def test_two_products_side_by_side(store: Store) -> None:
    reply = store.say("compare the laptop and the tablet")
    assert "Laptop" in reply and "Tablet" in reply and "$999.00" in reply and "$299.00" in reply


def test_recommendation_under_a_budget(store: Store) -> None:
    reply = store.say("can you recommend headphones under $200?")
    assert "Headphones" in reply and "$150.00" in reply
    reply = store.say("what would you recommend for a runner under 100 dollars")
    assert "Laptop" not in reply


# --- knowledge, people, small talk ------------------------------------------------------------


def test_refund_policy_question_is_answered_with_a_citation(store: Store, help_center: None) -> None:
    reply = store.say("how long do refunds take to show up on my card?")
    answer = store.last_answer()
    assert answer.citations and answer.citations[0]["ref"] == 1
    assert answer.citations[0]["url"]
    assert "[1]" in reply and "business days" in reply


def test_payment_method_question(store: Store, help_center: None) -> None:
    reply = store.say("do you accept paypal?")
    assert "[1]" in reply and store.last_answer().citations
    reply = store.say("which cards do I have saved on my account?")
    assert "Visa ending 4242" in reply


def test_complaint_opens_a_ticket_with_priority_from_sentiment(store: Store) -> None:
    from tickets.models import Ticket

    reply = store.say("This is absolutely terrible service, the worst I have ever had. I am furious and disgusted!")
    store.conversation.refresh_from_db()
    assert store.conversation.status == Conversation.Status.ESCALATED
    ticket = Ticket.objects.get(conversation=store.conversation)
    assert ticket.priority in {"high", "urgent"}
    assert ticket.number in reply


def test_request_for_a_human(store: Store) -> None:
    from tickets.models import Ticket

    reply = store.say("can someone from your team look at this for me, I'd rather not deal with a bot")
    store.conversation.refresh_from_db()
    assert store.conversation.status == Conversation.Status.ESCALATED
    assert Ticket.objects.get(conversation=store.conversation).number in reply


def test_off_topic_is_declined_honestly(store: Store) -> None:
    reply = store.say("can you write me a poem about the ocean?")
    assert "not something I can help with" in reply and "person" in reply
    assert store.proposed() == []


def test_greeting_thanks_goodbye(store: Store) -> None:
    assert "Hi Maya" in store.say("hello there!")
    assert "welcome" in store.say("thanks a lot").lower()
    assert "great day" in store.say("bye")


def test_unclear_message_asks_and_offers_a_person(store: Store) -> None:
    reply = store.say("hmm the thing with the stuff")
    assert "not sure I understood" in reply
    reply = store.say("yes")
    store.conversation.refresh_from_db()
    assert store.conversation.status == Conversation.Status.ESCALATED


def test_topic_switch_mid_form_answers_the_new_question(store: Store) -> None:
    reply = store.say("I want to return the t-shirt and the shoes")
    assert "payment method" in reply.lower()
    reply = store.say("actually, are the white headphones in stock?")
    assert "out of stock" in reply
    state = DialogueState.objects.get(conversation=store.conversation).data
    assert state["form"] == ""


def test_state_remembers_the_order_across_topics(store: Store) -> None:
    store.say(f"where is {store.processed.order_id}")
    reply = store.say("and when will it arrive?")
    assert store.processed.order_id in reply
