"""The offline assistant keeps the conversation's focus and answers completely, end to end.

Each test talks through `chat_turn` (the web chat's entry point) with no LLM configured: the
product and options under discussion carry over to follow-ups, a bare answer is read in the
frame of the assistant's own question, a message with two requests gets both handled in order,
help-center answers bring the list their passage introduces and the section that fits the
customer's address, product questions answer the attribute asked, and an off-topic message
ends with a concrete next step.
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

from assistant.nlu import understand
from assistant.nlu.catalog import CatalogIndex
from assistant.nlu.entities import extract_products
from assistant.nlu.pipeline import split_requests
from assistant.nlu.sentiment import analyze_sentiment
from assistant.offline.answers import _body, _snippet, knowledge_answer
from assistant.offline.state import State
from assistant.offline.turn import Turn
from assistant.tools import ToolContext
from assistant.turn import chat_turn
from assistant.types import BrainRequest, RetrievedContext
from chat.models import Conversation, Message, PendingAction
from chat.models_offline import DialogueState
from chat.tests.conftest import make_customer
from knowledge.selectors import chunk_search
from orders.models import Customer, Order, PaymentMethod, RestockSubscription
from orders.tests.factories import PaymentMethodFactory, ProductFactory, VariantFactory, make_order

pytestmark = pytest.mark.django_db


class Shop:
    """Running shoes in a colour × size grid (some sold out), products with descriptions, and a
    customer with a keyboard on its way and two pending orders."""

    def __init__(self, *, country: str = "USA") -> None:
        now = timezone.now()
        shoes = ProductFactory(name="Cloudstep Running Shoes", product_type="Running Shoes")
        self.shoes: dict[tuple[str, str], Any] = {}
        sold_out = {("blue", "11"), ("blue", "9")}
        for color in ("blue", "black"):
            for size in ("8", "9", "10", "11"):
                self.shoes[(color, size)] = VariantFactory(
                    product=shoes,
                    options={"color": color, "size": size},
                    price=Decimal("110.00") + int(size),
                    stock_quantity=0 if (color, size) in sold_out else 12,
                )
        reader = ProductFactory(name="E-Reader", product_type="E-Reader", description="Glare-free 6-inch screen.")
        VariantFactory(product=reader, options={"storage": "8GB", "color": "black"}, price=Decimal("139.00"))
        VariantFactory(product=reader, options={"storage": "32GB", "color": "sage"}, price=Decimal("159.00"))
        boots = ProductFactory(
            name="Ridge Hiking Boots", product_type="Hiking Boots", description="Waterproof mid-height boots."
        )
        VariantFactory(product=boots, options={"size": "10", "material": "leather"}, price=Decimal("149.00"))
        speaker = ProductFactory(name="Bluetooth Speaker", product_type="Bluetooth Speaker", description="Loud.")
        VariantFactory(product=speaker, options={"color": "red", "water resistance": "IPX7"}, price=Decimal("69.00"))
        keyboard = VariantFactory(
            product=ProductFactory(name="Mechanical Keyboard", product_type="Keyboard"),
            options={"switch": "linear", "layout": "US"},
            price=Decimal("119.00"),
        )
        kettle_product = ProductFactory(name="Electric Kettle", product_type="Kettle")
        kettle = VariantFactory(product=kettle_product, options={"color": "steel", "capacity": "1.7L"})
        VariantFactory(product=kettle_product, options={"color": "white", "capacity": "1L"})
        phone = ProductFactory(name="Smartphone", product_type="Smartphone")
        VariantFactory(product=phone, options={"color": "rose gold", "storage": "128GB"}, stock_quantity=0)
        VariantFactory(product=phone, options={"color": "gold", "storage": "128GB"}, price=Decimal("799.00"))
        bag = VariantFactory(
            product=ProductFactory(name="Down Sleeping Bag", product_type="Outdoors"), options={"length": "long"}
        )
        lamp = VariantFactory(product=ProductFactory(name="Desk Lamp"), options={"color": "white"})

        self.customer = make_customer(first_name="Maya", last_name="Lopez", country=country)
        card = PaymentMethodFactory(customer=self.customer, brand="visa", last_four="4242")
        PaymentMethodFactory(customer=self.customer, source=PaymentMethod.Source.GIFT_CARD, balance=Decimal("109.00"))
        self.keyboard_order = make_order(
            customer=self.customer,
            variants=[keyboard],
            payment_method=card,
            status=Order.Status.PROCESSED,
            created_at=now - timedelta(days=4),
        )
        self.kettle_order = make_order(
            customer=self.customer, variants=[kettle], payment_method=card, created_at=now - timedelta(days=2)
        )
        self.lamp_order = make_order(
            customer=self.customer, variants=[lamp], payment_method=card, created_at=now - timedelta(days=1)
        )
        self.bag_order = make_order(
            customer=self.customer,
            variants=[bag],
            payment_method=card,
            status=Order.Status.PROCESSED,
            created_at=now - timedelta(days=9),
        )
        self.conversation = Conversation.objects.create(customer=self.customer)

    def say(self, text: str) -> str:
        messages = chat_turn(conversation=self.conversation, text=text, user=self.customer.user)
        return "\n".join(message.text for message in messages)

    def proposed(self) -> list[PendingAction]:
        return list(PendingAction.objects.filter(conversation=self.conversation, status=PendingAction.Status.PROPOSED))

    def alerts(self) -> list[Any]:
        return [s.variant for s in RestockSubscription.objects.filter(customer=self.customer, status="active")]

    def last_answer(self) -> Message:
        return Message.objects.filter(conversation=self.conversation, role=Message.Role.ASSISTANT).latest("id")


@pytest.fixture
def offline(settings: Any) -> None:
    settings.LLM_BASE_URL = ""
    settings.LLM_MODEL = ""


@pytest.fixture
def shop(offline: None) -> Shop:
    return Shop()


@pytest.fixture
def help_center(tmp_path: Path) -> None:
    from knowledge.services import document_ingest_path

    source = Path(settings.BASE_DIR) / "knowledge" / "content"
    for name in (
        "payment-problems.md",
        "delivery-times.md",
        "international-shipping.md",
        "refund-timing.md",
        "cancellation-fees.md",
        "returns-and-refunds.md",
    ):
        shutil.copy(source / name, tmp_path / name)
    document_ingest_path(path=tmp_path)


# --- the product and options in focus ------------------------------------------------------------


def test_stock_answer_lists_the_closest_options_in_stock_first(shop: Shop) -> None:
    reply = shop.say("do you have the cloudstep running shoes in blue, size 11?")
    assert "out of stock" in reply
    instead = reply.split("In stock instead:")[1]
    # Same size in the other colour first, then the nearest size in the colour asked.
    assert instead.index("size 11, black") < instead.index("size 10, blue")
    assert "size 9, blue" not in instead  # sold out itself


def test_a_follow_up_keeps_the_product_and_options(shop: Shop) -> None:
    shop.say("do you have the cloudstep running shoes in blue, size 11?")
    reply = shop.say("ok can you let me know when it's back in stock?")
    assert "email you" in reply and "size 11, blue" in reply
    assert shop.alerts() == [shop.shoes[("blue", "11")]]


def test_bare_options_are_read_against_the_product_in_focus(shop: Shop) -> None:
    reply = shop.say("are the cloudstep running shoes in stock?")
    assert "options in stock" in reply
    reply = shop.say("11 blue")
    assert "Cloudstep Running Shoes (size 11, blue) is out of stock" in reply
    # A new value replaces its own option and keeps the other: 11 in black.
    reply = shop.say("what about black?")
    assert "Cloudstep Running Shoes (size 11, black) is in stock" in reply and "$121.00" in reply


def test_an_answer_to_which_option_to_alert_about_subscribes_that_option(shop: Shop) -> None:
    reply = shop.say("can you tell me when the cloudstep running shoes are back in stock?")
    assert "Which option" in reply and "size 9, blue" in reply and "size 11, blue" in reply
    assert shop.alerts() == []
    reply = shop.say("the 9 in blue")
    assert "email you" in reply
    assert shop.alerts() == [shop.shoes[("blue", "9")]]


def test_another_product_takes_the_focus(shop: Shop) -> None:
    shop.say("do you have the cloudstep running shoes in blue, size 11?")
    reply = shop.say("how much is the e-reader?")
    assert "E-Reader" in reply and "Cloudstep" not in reply
    state = DialogueState.objects.get(conversation=shop.conversation).data
    assert state["focus_options"] == [] and "sage" in state["product_values"]


def test_a_value_of_several_words_is_one_option(shop: Shop) -> None:
    reply = shop.say("do you have the smartphone in rose gold 128GB")
    assert "Smartphone (rose gold, 128GB) is out of stock" in reply
    assert "In stock instead: gold, 128GB ($799.00)" in reply


def test_option_values_with_units_are_read_as_options(shop: Shop) -> None:
    reply = shop.say("is the electric kettle 1.7 litres?")
    assert "steel, 1.7L: in stock" in reply and "white, 1L" not in reply


def test_a_product_is_found_by_the_last_words_of_its_name() -> None:
    index = CatalogIndex()
    index.add_product("1", "Down Sleeping Bag", "Outdoors")
    index.add_product("2", "Cloudstep Running Shoes", "Footwear")
    assert [m.names for m in extract_products("when will my sleeping bag get here", index)] == [("Down Sleeping Bag",)]
    assert [m.names for m in extract_products("the running shoes in blue", index)] == [("Cloudstep Running Shoes",)]


# --- the order in focus ------------------------------------------------------------------------


def test_the_order_in_focus_carries_into_the_next_task(shop: Shop) -> None:
    shop.say(f"cancel {shop.kettle_order.order_id}, dont need it")
    shop.say("no")
    shop.say("actually just change the address to 55 Pine St, Portland, OR 97201, USA")
    [action] = shop.proposed()
    assert action.tool == "modify_pending_order_address"
    assert action.arguments["order_id"] == shop.kettle_order.order_id


def test_the_order_in_focus_is_not_carried_into_a_task_it_cannot_have(shop: Shop) -> None:
    shop.say(f"where is {shop.keyboard_order.order_id}?")
    reply = shop.say("i want to cancel an order")
    # The keyboard has shipped: the pending orders are offered instead.
    assert shop.proposed() == [] and shop.kettle_order.order_id in reply


def test_a_follow_up_asks_the_same_for_another_order(shop: Shop) -> None:
    shop.say(f"where is {shop.keyboard_order.order_id}?")
    reply = shop.say("and the one with the sleeping bag?")
    assert shop.bag_order.order_id in reply and "UPS" in reply


def test_same_reason_carries_to_the_next_order(shop: Shop) -> None:
    shop.say(f"cancel {shop.kettle_order.order_id}, i ordered it by mistake")
    shop.say("yes")
    shop.say("and the one with the desk lamp too, same reason")
    [action] = shop.proposed()
    assert action.arguments == {"order_id": shop.lamp_order.order_id, "reason": "ordered by mistake"}


def test_when_will_my_product_arrive_is_tracking(shop: Shop) -> None:
    reply = shop.say("when will my sleeping bag get here")
    assert shop.bag_order.order_id in reply and "UPS" in reply


def test_a_question_about_how_a_task_works_is_answered_from_the_help_center(shop: Shop, help_center: None) -> None:
    reply = shop.say("do i have to pay to ship a return back to you")
    assert shop.last_answer().citations and "[1]" in reply
    assert shop.proposed() == []


def test_the_account_address_and_the_gift_card_balance(shop: Shop) -> None:
    reply = shop.say("how much is left on my gift card")
    assert "$109.00 left" in reply
    shop.say("i moved, please update the address on my account to 77 Birch Road, Portland, OR 97210, USA")
    [action] = shop.proposed()
    assert action.tool == "modify_user_address" and action.arguments["zip"] == "97210"


# --- attributes --------------------------------------------------------------------------------


def test_price_and_the_attribute_asked_are_both_answered(shop: Shop) -> None:
    reply = shop.say("how much is the e-reader and is it waterproof")
    assert "$139.00–$159.00" in reply
    assert "whether it's waterproof" in reply and "Glare-free" in reply


def test_the_attribute_asked_carries_to_the_next_product(shop: Shop) -> None:
    shop.say("is the e-reader waterproof?")
    reply = shop.say("what about the ridge hiking boots?")
    assert "Waterproof mid-height boots." in reply


def test_attribute_from_the_description_and_from_the_options(shop: Shop) -> None:
    reply = shop.say("are the ridge hiking boots waterproof?")
    assert "yes" in reply and "Waterproof mid-height boots." in reply
    reply = shop.say("does the bluetooth speaker work in the rain")
    assert "Water resistance: IPX7" in reply
    reply = shop.say("what colours does the e-reader come in?")
    assert "Color: black, sage" in reply and "don't say" not in reply


# --- compound messages -------------------------------------------------------------------------


def test_split_requests_finds_separate_requests_only() -> None:
    assert split_requests("where's my keyboard and also can i change the adress") == [
        "where's my keyboard",
        "can i change the adress",
    ]
    assert len(split_requests("Where's my keyboard? Also I need to change my address.")) == 2
    assert len(split_requests("i want to return the hoodie and i also want to exchange the shoes")) == 2
    for single in ("how much is the e-reader and is it waterproof", "can you also check the price", "black and white"):
        assert split_requests(single) == [single]


def test_two_requests_are_handled_one_after_the_other(shop: Shop) -> None:
    reply = shop.say("where's my keyboard and also can i change the adress")
    first, _, second = reply.partition("Next, the address:")
    assert "First, your keyboard:" in first and shop.keyboard_order.order_id in first and "UPS" in first
    assert "Which order" in second and shop.kettle_order.order_id in second
    reply = shop.say(shop.lamp_order.order_id)
    assert "new shipping address" in reply
    shop.say("55 Pine St, Portland, OR 97201, USA")
    [action] = shop.proposed()
    assert action.tool == "modify_pending_order_address"
    assert action.arguments["order_id"] == shop.lamp_order.order_id


def test_a_second_action_waits_for_the_first_card(shop: Shop) -> None:
    reply = shop.say(
        f"cancel {shop.kettle_order.order_id}, i ordered it by mistake, and also change the address on "
        f"{shop.lamp_order.order_id}"
    )
    [action] = shop.proposed()  # one card at a time
    assert action.tool == "cancel_pending_order" and action.arguments["order_id"] == shop.kettle_order.order_id
    assert "I'll help with the address" in reply and shop.lamp_order.order_id in reply
    shop.say("yes")
    shop.kettle_order.refresh_from_db()
    assert shop.kettle_order.status == Order.Status.CANCELLED
    reply = shop.say("thanks")
    assert "Next, the address:" in reply and shop.lamp_order.order_id in reply and "new shipping address" in reply


def test_a_part_that_goes_on_about_the_first_is_not_a_second_request(shop: Shop) -> None:
    reply = shop.say("do you ship to canada and how long does it take")
    assert "2 things" not in reply


def test_the_gift_card_balance_is_one_of_two_requests(shop: Shop, help_center: None) -> None:
    reply = shop.say("what's my gift card balance and also how long do refunds take to show up")
    assert "First, your gift card balance:" in reply and "$109.00 left" in reply
    assert "Next," in reply and "business days" in reply


def test_a_detail_of_the_task_is_not_a_second_request(shop: Shop) -> None:
    reply = shop.say(f"cancel {shop.kettle_order.order_id}, i dont need it anymore. refund to my visa please")
    assert "2 things" not in reply
    [action] = shop.proposed()
    assert action.arguments == {"order_id": shop.kettle_order.order_id, "reason": "no longer needed"}


def test_a_question_is_answered_beside_an_open_form(shop: Shop, help_center: None) -> None:
    reply = shop.say("i want to cancel my order and also how long do refunds take to show up")
    assert "First, the cancellation:" in reply and "Which order" in reply
    assert "Next, the refund:" in reply and "business days" in reply
    # The cancellation still waits for its order.
    shop.say(f"{shop.kettle_order.order_id}, no longer needed")
    [action] = shop.proposed()
    assert action.arguments == {"order_id": shop.kettle_order.order_id, "reason": "no longer needed"}


# --- complete help-center answers ----------------------------------------------------------------


def test_a_list_lead_in_comes_with_its_list(shop: Shop, help_center: None) -> None:
    # The passage "I see two charges for one order" is only a lead-in; its reasons are subsections.
    [hit] = [
        h for h in chunk_search(query="I see two charges for one order", k=8).hits if h.heading.startswith("I see")
    ]
    assert _body(hit.text).endswith(":")
    text = "i see two charges for one order"
    message = Message.objects.create(conversation=shop.conversation, role=Message.Role.USER, text=text)
    request = BrainRequest(
        conversation=shop.conversation,
        text=text,
        context=ToolContext(customer=shop.customer, conversation_id=shop.conversation.pk, channel="web"),
        retrieved=RetrievedContext(hits=[hit], confident=True),
        message=message,
        sentiment=analyze_sentiment(text),
    )
    turn = Turn(request=request, understanding=understand(text), state=State())
    reply = knowledge_answer(turn) or ""
    passage = reply.split("[1]")[0]
    assert passage.startswith("There are a few common reasons:")
    assert "• A temporary hold from a failed attempt: " in passage and "• Two separate orders: " in passage
    assert not passage.rstrip().endswith(":")
    assert turn.citations[0]["ref"] == 1 and turn.citations[0]["heading"] == hit.heading


def test_snippet_keeps_the_list_a_cut_passage_introduces() -> None:
    intro = "Intro sentence. " * 25
    items = "\n".join(f"- payment option number {n} with a few words about it" for n in range(30))
    snippet = _snippet(f"## Heading\n{intro}\n\nYou can pay with:\n{items}\n\nMore text after the list.")
    assert "You can pay with:\n- payment option number 0" in snippet
    # A long list is cut at an item and says it goes on; the paragraph after it is left out.
    assert snippet.endswith("\n…") and "More text" not in snippet
    assert _snippet("## H\nShort passage.") == "Short passage."


def test_shipping_time_comes_from_the_customers_region(offline: None, help_center: None) -> None:
    home = Shop()
    reply = home.say("how long does shipping usually take?")
    assert "3–7 business days" in reply and "7–14" not in reply
    abroad = Shop(country="Canada")
    reply = abroad.say("how long does shipping usually take?")
    assert "3–7 business days" not in reply
    assert abroad.last_answer().citations[0]["title"] == "International shipping" or "7–14 business days" in reply
    # A question that names the region is answered for that region, whatever the address.
    reply = home.say("how long does international shipping take?")
    assert "3–7 business days" not in reply and "International" in home.last_answer().citations[0]["title"] + reply


# --- next steps ----------------------------------------------------------------------------------


def test_off_topic_ends_with_a_concrete_next_step(shop: Shop) -> None:
    reply = shop.say("can you write me a poem about the ocean?")
    assert "not something I can help with" in reply
    assert shop.keyboard_order.order_id in reply and "Just say yes" in reply
    reply = shop.say("yes")
    assert shop.keyboard_order.order_id in reply and "UPS" in reply


def test_next_step_without_open_orders_lists_what_i_can_do(offline: None) -> None:
    customer: Customer = make_customer()
    conversation = Conversation.objects.create(customer=customer)
    [answer] = chat_turn(conversation=conversation, text="write me a poem about the ocean", user=customer.user)
    assert "track an order" in answer.text and "person" in answer.text


def test_a_message_not_understood_ends_with_a_next_step(shop: Shop) -> None:
    reply = shop.say("asdf qwerty zxcv")
    # The likely meanings, what I can do, or the customer's open order to check — and a person.
    assert any(step in reply for step in ("Did you mean", "track an order", "check on order"))
    assert "person" in reply
