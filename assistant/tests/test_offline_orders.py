"""The offline assistant's order capabilities, end to end through `chat_turn` on the real database.

A customer with a long order history (more orders than the assistant reads at first), open
and closed orders, one product bought in two options, and an old delivered order: references
by product, option, state and time must reach every order; "where is my order" leads with the
open ones; vague and upset messages get the concrete check; eligibility is said before any
question; and nothing the customer reads shows an internal id.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from assistant.escalation import escalation_priority
from assistant.offline.resolve import time_window
from assistant.offline.turn import ORDERS_CONSIDERED
from assistant.turn import chat_turn
from chat.models import Conversation, PendingAction
from chat.tests.conftest import make_customer
from orders.models import Order, PaymentMethod, PaymentTransaction, SelfServiceRefund
from orders.tests.factories import PaymentMethodFactory, ProductFactory, VariantFactory, make_order
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def _month_ago(now: datetime, months: int) -> datetime:
    """The 15th of the month `months` before this one, at noon: inside "last month" for months=1."""
    year, month = now.year, now.month - months
    while month < 1:
        year, month = year - 1, month + 12
    return now.replace(year=year, month=month, day=15, hour=12)


class Shop:
    """Ada: two open orders, delivered shoes in two options, an old cushion order, and filler."""

    def __init__(self) -> None:
        now = timezone.now()
        self.customer = make_customer(first_name="Ada", last_name="Stone")
        self.visa = PaymentMethodFactory(customer=self.customer, brand="visa", last_four="1234")
        self.gift = PaymentMethodFactory(
            customer=self.customer,
            source=PaymentMethod.Source.GIFT_CARD,
            payment_method_id="gift_card_8932269",
            balance=Decimal("80.00"),
        )
        kettle = ProductFactory(name="Electric Kettle", product_type="Electric Kettle")
        self.kettle = VariantFactory(product=kettle, options={"color": "steel"}, price=Decimal("45.00"))
        speaker = ProductFactory(name="Bluetooth Speaker", product_type="Bluetooth Speaker")
        self.speaker = VariantFactory(product=speaker, options={"color": "red"}, price=Decimal("60.00"))
        shoes = ProductFactory(name="Running Shoes", product_type="Running Shoes")
        self.shoes_11_blue = VariantFactory(
            product=shoes, options={"size": "11", "color": "blue"}, price=Decimal("90.00")
        )
        self.shoes_10_black = VariantFactory(
            product=shoes, options={"size": "10", "color": "black"}, price=Decimal("90.00")
        )
        self.shoes_12_blue = VariantFactory(
            product=shoes, options={"size": "12", "color": "blue"}, price=Decimal("92.00")
        )
        cushion = ProductFactory(name="Floor Cushion", product_type="Floor Cushion")
        self.cushion = VariantFactory(product=cushion, options={"color": "grey"}, price=Decimal("35.00"))
        self.cushion_green = VariantFactory(product=cushion, options={"color": "green"}, price=Decimal("35.00"))
        lamp = ProductFactory(name="Desk Lamp", product_type="Desk Lamp")
        self.lamp = VariantFactory(product=lamp, options={"finish": "brass"}, price=Decimal("30.00"))

        def order(variants: list[Any], status: str, placed: datetime, method: PaymentMethod | None = None) -> Order:
            return make_order(
                customer=self.customer,
                variants=variants,
                payment_method=method or self.visa,
                status=status,
                created_at=placed,
            )

        # Created oldest first (ids follow), with filler lamp orders between, so the shoes and
        # the cushion sit past the orders the assistant reads first.
        self.cushion_order = order([self.cushion], Order.Status.DELIVERED, _month_ago(now, 4))
        self.black_shoes = order([self.shoes_10_black], Order.Status.DELIVERED, _month_ago(now, 3))
        self.blue_shoes = order([self.shoes_11_blue], Order.Status.DELIVERED, _month_ago(now, 1), self.gift)
        self.lamps = [
            order(
                [self.lamp],
                Order.Status.CANCELLED if index % 2 else Order.Status.DELIVERED,
                now - timedelta(minutes=40 - index),
            )
            for index in range(ORDERS_CONSIDERED)
        ]
        self.speaker_order = order([self.speaker], Order.Status.PROCESSED, now - timedelta(minutes=10))
        self.kettle_order = order([self.kettle], Order.Status.PENDING, now - timedelta(minutes=5))
        other = make_customer(first_name="Olaf", last_name="Berg")
        self.foreign = make_order(
            customer=other,
            variants=[self.kettle],
            payment_method=PaymentMethodFactory(customer=other, brand="mastercard", last_four="1111"),
        )
        self.conversation = Conversation.objects.create(customer=self.customer)

    def say(self, text: str) -> str:
        messages = chat_turn(conversation=self.conversation, text=text, user=self.customer.user)
        return "\n".join(message.text for message in messages)

    def proposed(self) -> list[PendingAction]:
        return list(PendingAction.objects.filter(conversation=self.conversation, status=PendingAction.Status.PROPOSED))


@pytest.fixture
def shop(settings: Any) -> Shop:
    settings.LLM_BASE_URL = ""
    settings.LLM_MODEL = ""
    return Shop()


def _ids(text: str) -> set[str]:
    return set(re.findall(r"#W\d{7}", text))


# --- references over every order -------------------------------------------------------------


def test_an_old_delivered_order_named_by_product_is_found_past_the_newest(shop: Shop) -> None:
    reply = shop.say("i want to return the floor cushion, doesn't match my sofa")
    assert shop.cushion_order.order_id in reply and "None of your" not in reply
    shop.say("to my visa")
    [action] = shop.proposed()
    assert action.tool == "return_delivered_order_items"
    assert action.arguments["order_id"] == shop.cushion_order.order_id


def test_an_option_tells_two_orders_of_one_product_apart(shop: Shop) -> None:
    shop.say("i want to return my blue running shoes")
    [action] = shop.proposed()
    assert action.arguments["order_id"] == shop.blue_shoes.order_id
    assert action.arguments["item_ids"] == [shop.shoes_11_blue.item_id]
    shop.conversation = Conversation.objects.create(customer=shop.customer)
    reply = shop.say("where are my size 10 shoes")
    assert _ids(reply) == {shop.black_shoes.order_id}


def test_status_words_pick_the_orders_in_that_state(shop: Shop) -> None:
    reply = shop.say("where's the one that hasn't arrived yet")
    assert _ids(reply) == {shop.kettle_order.order_id, shop.speaker_order.order_id}
    shop.conversation = Conversation.objects.create(customer=shop.customer)
    reply = shop.say("which of my orders have been delivered with the running shoes")
    assert _ids(reply) == {shop.blue_shoes.order_id, shop.black_shoes.order_id}


def test_time_words_pick_the_order_placed_then(shop: Shop) -> None:
    reply = shop.say("where is the order i placed last month")
    assert _ids(reply) == {shop.blue_shoes.order_id}


def test_time_window_reads_customer_phrases() -> None:
    today = datetime(2026, 3, 10).date()
    assert time_window("the one from last month", today=today) == (
        datetime(2026, 2, 1).date(),
        datetime(2026, 2, 28).date(),
    )
    assert time_window("ordered it in december", today=today) == (
        datetime(2025, 12, 1).date(),
        datetime(2025, 12, 31).date(),
    )
    start, end = time_window("about two weeks ago", today=today) or (today, today)
    assert start <= datetime(2026, 2, 24).date() <= end < today
    assert time_window("may i return it", today=today) is None  # "may" is not the month here


# --- where is my order -----------------------------------------------------------------------


def test_where_is_my_order_leads_with_open_orders_as_a_list(shop: Shop) -> None:
    reply = shop.say("where is my order?")
    bullets = [line for line in reply.splitlines() if line.startswith("- ")]
    # One Markdown bullet per open order, first, with status in words, carrier, tracking and next step.
    assert _ids(bullets[0]) == {shop.speaker_order.order_id}
    assert "UPS" in bullets[0] and "123456789012" in bullets[0] and "on its way" in bullets[0]
    assert _ids(bullets[1]) == {shop.kettle_order.order_id}
    assert "not shipped yet" in bullets[1] and "email" in bullets[1]
    assert len(bullets) == 2
    # Cancelled orders are counted, never listed.
    cancelled = {order.order_id for order in shop.lamps if order.status == Order.Status.CANCELLED}
    assert not _ids(reply) & cancelled and "cancelled" in reply
    # Picking one of them afterwards by what was in it.
    reply = shop.say("the kettle")
    assert _ids(reply) == {shop.kettle_order.order_id} and "placed" in reply


def test_two_order_numbers_are_both_tracked(shop: Shop) -> None:
    reply = shop.say(f"where are {shop.kettle_order.order_id} and {shop.speaker_order.order_id}")
    assert _ids(reply) == {shop.kettle_order.order_id, shop.speaker_order.order_id}


# --- vague and upset messages ---------------------------------------------------------------


@pytest.mark.parametrize("text", ["it never came", "its still not here wtf", "still waiting on my stuff"])
def test_never_came_shows_where_the_open_orders_are(shop: Shop, text: str) -> None:
    reply = shop.say(text)
    assert _ids(reply) == {shop.kettle_order.order_id, shop.speaker_order.order_id}
    assert "not shipped yet" in reply and "in transit" in reply
    assert "person" in reply  # offered after the check, not instead of it
    assert not Ticket.objects.filter(conversation=shop.conversation).exists()


def test_an_upset_not_arrived_then_yes_opens_a_ticket_above_low(shop: Shop) -> None:
    shop.say("its still not here wtf")
    reply = shop.say("yes")
    ticket = Ticket.objects.get(conversation=shop.conversation)
    assert ticket.priority in {"high", "urgent"} and ticket.number in reply
    assert "72 hours" not in reply


def test_charged_twice_shows_the_payment_history_in_words(shop: Shop) -> None:
    # An item change charged the price difference as a second payment on the blue shoes.
    PaymentTransaction.objects.create(
        order=shop.blue_shoes,
        transaction_type=PaymentTransaction.Type.PAYMENT,
        amount=Decimal("2.00"),
        payment_method=shop.gift,
    )
    reply = shop.say("why did you charge me twice??")
    assert shop.blue_shoes.order_id in reply
    assert "gift card ending 2269" in reply and "$90.00" in reply and "$2.00" in reply
    assert "gift_card_8932269" not in reply
    assert "price difference" in reply


def test_wrong_size_offers_an_exchange_for_another_size(shop: Shop) -> None:
    reply = shop.say("the blue shoes are too small")
    assert "exchange" in reply and "12" in reply and shop.blue_shoes.order_id in reply
    shop.say("size 12 please")
    [action] = shop.proposed()
    assert action.tool == "exchange_delivered_order_items"
    assert action.arguments["new_item_ids"] == [shop.shoes_12_blue.item_id]


def test_a_bare_request_for_a_person_is_asked_what_about_and_the_answer_raises_the_ticket(shop: Shop) -> None:
    reply = shop.say("agent pls")
    ticket = Ticket.objects.get(conversation=shop.conversation)
    assert "what it's about" in reply and ticket.priority in {"low", "medium"}
    reply = shop.say("i was charged twice and nobody helps wtf")
    ticket.refresh_from_db()
    assert ticket.priority == "urgent" and "1 hour" in reply


# --- eligibility first ------------------------------------------------------------------------


def test_cancelling_a_delivered_order_says_why_and_what_instead(shop: Shop) -> None:
    reply = shop.say("cancel my floor cushion order")
    assert f"{shop.cushion_order.order_id} was delivered, so it can't be cancelled" in reply
    assert "return" in reply and shop.proposed() == []


def test_the_refund_limit_is_said_before_any_question(shop: Shop, settings: Any) -> None:
    settings.ORDERS_SELF_SERVICE_REFUND_LIMIT = 1
    SelfServiceRefund.objects.create(customer=shop.customer, order=shop.lamps[0], kind=SelfServiceRefund.Kind.RETURN)
    reply = shop.say("i want to return something")
    assert "refund" in reply and "agent" in reply and "Which" not in reply
    assert shop.proposed() == []


def test_another_customers_order_is_refused(shop: Shop) -> None:
    reply = shop.say(f"cancel {shop.foreign.order_id}, ordered by mistake")
    assert "couldn't find" in reply.lower() and shop.proposed() == []


# --- wording --------------------------------------------------------------------------------


def test_cards_and_questions_never_show_internal_ids(shop: Shop) -> None:
    reply = shop.say("i want to return my blue running shoes")
    [action] = shop.proposed()
    assert "Running Shoes (size 11, blue)" in action.description
    assert shop.shoes_11_blue.item_id not in action.description + reply
    assert "gift card ending 2269" in action.description
    assert "gift_card_" not in action.description + reply


def test_refund_status_names_the_method_in_words(shop: Shop) -> None:
    PaymentTransaction.objects.create(
        order=shop.blue_shoes,
        transaction_type=PaymentTransaction.Type.REFUND,
        amount=Decimal("90.00"),
        payment_method=shop.gift,
    )
    reply = shop.say(f"where is my refund for {shop.blue_shoes.order_id}")
    assert "gift card ending 2269" in reply and "gift_card" not in reply and "8932269" not in reply


# --- more of the order flows -----------------------------------------------------------------


def test_a_pending_orders_payment_method_is_changed_after_the_checks(shop: Shop) -> None:
    reply = shop.say(f"can {shop.kettle_order.order_id} be paid with my visa")
    assert "already paid with your Visa ending 1234" in reply and shop.proposed() == []
    reply = shop.say("the gift card then")
    [action] = shop.proposed()
    assert action.tool == "modify_pending_order_payment"
    assert action.arguments == {
        "order_id": shop.kettle_order.order_id,
        "payment_method_id": shop.gift.payment_method_id,
    }
    shop.say("yes")
    assert shop.kettle_order.payments.filter(payment_method=shop.gift).exists()


def test_a_gift_card_that_does_not_cover_the_order_is_refused_before_the_card(shop: Shop) -> None:
    shop.gift.balance = Decimal("10.00")
    shop.gift.save(update_fields=["balance"])
    reply = shop.say("put the kettle order on my gift card instead of the visa")
    assert "doesn't cover the $45.00" in reply and shop.proposed() == []


def test_what_was_asked_earlier_in_an_exchange_still_holds(shop: Shop) -> None:
    shop.shoes_12_blue.stock_quantity = 0
    shop.shoes_12_blue.save(update_fields=["stock_quantity"])
    twelve_black = VariantFactory(
        product=shop.shoes_12_blue.product, options={"size": "12", "color": "black"}, price=Decimal("95.00")
    )
    reply = shop.say("i want to exchange my blue running shoes for size 12")
    assert "out of stock" in reply and shop.proposed() == []
    shop.say("ok the black ones then")
    [action] = shop.proposed()
    assert action.arguments["new_item_ids"] == [twelve_black.item_id]


def test_an_item_is_not_swapped_for_a_different_product(shop: Shop) -> None:
    reply = shop.say("can i exchange my blue running shoes for the floor cushion")
    assert "different product" in reply and "return" in reply and shop.proposed() == []


def test_several_items_swapped_in_one_message_each_get_their_own_option(shop: Shop) -> None:
    mug = ProductFactory(name="Coffee Mug", product_type="Coffee Mug")
    mug_white = VariantFactory(product=mug, options={"color": "white"}, price=Decimal("12.00"))
    mug_black = VariantFactory(product=mug, options={"color": "black"}, price=Decimal("12.00"))
    order = make_order(
        customer=shop.customer,
        variants=[shop.shoes_10_black, mug_white],
        payment_method=shop.visa,
        status=Order.Status.DELIVERED,
    )
    shop.say(f"exchange on {order.order_id}: the running shoes for size 12 and the mug for black")
    [action] = shop.proposed()
    assert action.arguments["item_ids"] == [shop.shoes_10_black.item_id, mug_white.item_id]
    assert action.arguments["new_item_ids"] == [shop.shoes_12_blue.item_id, mug_black.item_id]


def test_words_describing_the_order_are_not_the_item(shop: Shop) -> None:
    mug = ProductFactory(name="Coffee Mug", product_type="Coffee Mug")
    mug_white = VariantFactory(product=mug, options={"color": "white"}, price=Decimal("12.00"))
    VariantFactory(product=mug, options={"color": "black"}, price=Decimal("12.00"))
    make_order(
        customer=shop.customer,
        variants=[shop.speaker, mug_white],
        payment_method=shop.visa,
        status=Order.Status.DELIVERED,
    )
    shop.say("exchange the mug in my bluetooth speaker order for black")
    [action] = shop.proposed()
    assert action.arguments["item_ids"] == [mug_white.item_id]


def test_a_cancellation_reason_given_in_passing_is_read(shop: Shop) -> None:
    shop.say("the party got called off so i don't really need the kettle, can you cancel it")
    [action] = shop.proposed()
    assert action.arguments == {"order_id": shop.kettle_order.order_id, "reason": "no longer needed"}


def test_a_return_is_found_by_its_state(shop: Shop) -> None:
    shop.black_shoes.status = Order.Status.RETURN_REQUESTED
    shop.black_shoes.save(update_fields=["status"])
    reply = shop.say("did you get the shoes i sent back?")
    assert _ids(reply) == {shop.black_shoes.order_id} and "return requested" in reply


def test_damage_starts_a_return_with_an_apology(shop: Shop) -> None:
    reply = shop.say("my floor cushion arrived torn")
    assert "sorry" in reply.lower() and shop.cushion_order.order_id in reply
    assert "refund" in reply and shop.proposed() == []


def test_a_parcel_marked_delivered_but_missing_gets_where_to_look(shop: Shop) -> None:
    reply = shop.say("it says my floor cushion was delivered but i never got it")
    assert shop.cushion_order.order_id in reply and "neighbours" in reply and "person" in reply


def test_addresses_are_read_with_words_around_them() -> None:
    from assistant.offline.forms import parse_address

    assert parse_address("please ship #W3245155 to 55 Oak Street, Apt 4, Seattle, WA 98101 instead") == {
        "address1": "55 Oak Street",
        "address2": "Apt 4",
        "city": "Seattle",
        "state": "WA",
        "country": "USA",
        "zip": "98101",
    }
    parsed = parse_address("881 Pine Court, Denver CO 80203")
    assert parsed is not None and (parsed["city"], parsed["state"], parsed["zip"]) == ("Denver", "CO", "80203")
    assert parse_address("no address here, sorry") is None


def test_a_change_to_a_delivered_order_becomes_an_exchange(shop: Shop) -> None:
    shop.say("can i change the size of my blue running shoes to 12")
    [action] = shop.proposed()
    assert action.tool == "exchange_delivered_order_items"
    assert action.arguments["new_item_ids"] == [shop.shoes_12_blue.item_id]


def _order_of_two_shoes(shop: Shop) -> Order:
    return make_order(
        customer=shop.customer,
        variants=[shop.shoes_11_blue, shop.shoes_10_black, shop.lamp],
        payment_method=shop.visa,
        status=Order.Status.DELIVERED,
    )


def test_two_items_of_one_product_are_asked_about_then_told_apart_by_an_option(shop: Shop) -> None:
    order = _order_of_two_shoes(shop)
    reply = shop.say(f"i want to return the running shoes from {order.order_id}")
    assert "Which items" in reply and "size 11, blue" in reply and "size 10, black" in reply
    assert "Desk Lamp" not in reply and shop.proposed() == []
    shop.say("the black ones")
    shop.say("to my visa")
    [action] = shop.proposed()
    assert action.arguments["item_ids"] == [shop.shoes_10_black.item_id]


def test_both_means_every_item_named(shop: Shop) -> None:
    order = _order_of_two_shoes(shop)
    shop.say(f"return both running shoes from {order.order_id} to my visa")
    [action] = shop.proposed()
    assert sorted(action.arguments["item_ids"]) == sorted([shop.shoes_11_blue.item_id, shop.shoes_10_black.item_id])


def test_the_item_after_the_verb_is_the_one_acted_on(shop: Shop) -> None:
    order = _order_of_two_shoes(shop)
    shop.say(f"the lamp from {order.order_id} is lovely but i want to return the blue running shoes, to my visa")
    [action] = shop.proposed()
    assert action.arguments["item_ids"] == [shop.shoes_11_blue.item_id]


def test_where_the_money_would_go_is_answered_from_the_order(shop: Shop) -> None:
    reply = shop.say("if i cancel my kettle order where does the money go")
    assert shop.kettle_order.order_id in reply and "$45.00" in reply and "Visa ending 1234" in reply
    assert shop.proposed() == []


def test_which_orders_are_on_the_way(shop: Shop) -> None:
    reply = shop.say("which of my orders are on the way?")
    assert _ids(reply) == {shop.kettle_order.order_id, shop.speaker_order.order_id}


def test_a_yes_no_option_is_named_by_its_key(shop: Shop) -> None:
    boots = ProductFactory(name="Hiking Boots", product_type="Hiking Boots")
    dry = VariantFactory(product=boots, options={"size": "11", "waterproof": "no"}, price=Decimal("100.00"))
    wet = VariantFactory(product=boots, options={"size": "11", "waterproof": "yes"}, price=Decimal("120.00"))
    VariantFactory(product=boots, options={"size": "10", "waterproof": "no"}, price=Decimal("100.00"))
    make_order(customer=shop.customer, variants=[dry], payment_method=shop.visa, status=Order.Status.DELIVERED)
    shop.say("can i exchange my hiking boots for the waterproof version")
    [action] = shop.proposed()
    assert action.arguments["new_item_ids"] == [wet.item_id]


def test_a_returns_refund_says_how_much_goes_where_and_when(shop: Shop) -> None:
    Order.objects.filter(pk=shop.black_shoes.pk).update(
        status=Order.Status.RETURN_REQUESTED,
        return_items=[shop.shoes_10_black.item_id],
        return_payment_method=shop.visa,
    )
    reply = shop.say(f"when will i get my refund for {shop.black_shoes.order_id}")
    assert "$90.00 to your Visa ending 1234" in reply and "5–7 business days" in reply


# --- escalation: the reason and the priority ---------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "score", "expected"),
    [
        (["its still not here wtf"], 0.47, "high"),  # VADER scores this positive; "wtf" says otherwise
        (["you charged me twice"], 0.0, "high"),
        (["charged twice and nobody answers, this is ridiculous"], -0.2, "urgent"),
        (["my parcel never arrived"], 0.0, "medium"),
        (["can i talk to someone about my account settings"], 0.4, "low"),
    ],
)
def test_escalation_priority_follows_reason_and_anger(texts: list[str], score: float, expected: str) -> None:
    assert escalation_priority(sentiment_score=score, texts=texts) == expected


def test_a_request_for_a_person_that_says_nothing_about_why_is_asked(shop: Shop) -> None:
    reply = shop.say("i want to talk to a human")
    assert Ticket.objects.filter(conversation=shop.conversation).exists()
    assert "what it's about" in reply
    shop.conversation = Conversation.objects.create(customer=shop.customer)
    reply = shop.say(f"i want to talk to a human about my refund for {shop.blue_shoes.order_id}")
    assert "what it's about" not in reply


def test_an_item_change_is_read_from_its_shape(shop: Shop) -> None:
    # No task word the intent model knows, but an order, an item of it and an option to change to.
    shop.say(f"the running shoes on {shop.blue_shoes.order_id}, can i make them a size 12")
    [action] = shop.proposed()
    assert action.tool == "exchange_delivered_order_items"
    assert action.arguments["new_item_ids"] == [shop.shoes_12_blue.item_id]


def test_a_value_two_options_share_goes_to_the_option_named(shop: Shop) -> None:
    glasses = ProductFactory(name="Sunglasses", product_type="Sunglasses")
    green = VariantFactory(
        product=glasses, options={"lens color": "green", "frame color": "black"}, price=Decimal("80.00")
    )
    brown_lens = VariantFactory(
        product=glasses, options={"lens color": "brown", "frame color": "black"}, price=Decimal("80.00")
    )
    VariantFactory(product=glasses, options={"lens color": "brown", "frame color": "brown"}, price=Decimal("80.00"))
    make_order(customer=shop.customer, variants=[green], payment_method=shop.visa)
    shop.say("the sunglasses in my order, can i get the brown lenses instead of green?")
    [action] = shop.proposed()
    assert action.tool == "modify_pending_order_items"
    assert action.arguments["new_item_ids"] == [brown_lens.item_id]
