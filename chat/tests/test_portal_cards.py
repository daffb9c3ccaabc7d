"""What sits inside the thread: confirmation cards, tool-result cards, feedback, quick replies
and the floating widget — through the test client against real store data and the scripted
LLM server."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from assistant.tests.llm_server import ScriptedLLM
from assistant.turn import chat_turn
from chat.models import Conversation, Feedback, Message, PendingAction, ToolCallLog
from chat.tests.conftest import make_customer
from orders.models import Order, RestockSubscription
from orders.tests.factories import PaymentMethodFactory, VariantFactory, make_order
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer.user)
    return client


@pytest.fixture
def pending_order(customer) -> Order:
    card = PaymentMethodFactory(customer=customer, source="gift_card")
    return make_order(customer=customer, variants=[VariantFactory(), VariantFactory()], payment_method=card)


def propose_cancel(llm, conversation, customer, order) -> PendingAction:
    llm.add(
        ScriptedLLM.calls(("cancel_pending_order", {"order_id": order.order_id, "reason": "no longer needed"})),
        ScriptedLLM.text("I can cancel that order for you — please confirm below."),
    )
    chat_turn(conversation=conversation, text=f"Cancel {order.order_id}", user=customer.user)
    return PendingAction.objects.get(conversation=conversation)


def test_a_proposed_action_shows_as_a_card_with_confirm_and_cancel(
    llm, logged_in, conversation, customer, pending_order
):
    action = propose_cancel(llm, conversation, customer, pending_order)

    html = logged_in.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()

    card = html[html.index(f'id="action-{action.pk}"') :]
    assert "Please confirm" in card and f"Cancel order {pending_order.order_id}" in card
    assert (
        reverse("chat:action_confirm", args=[action.pk]) in card
        and reverse("chat:action_decline", args=[action.pk]) in card
    )
    assert f'value="{action.idempotency_key}"' in card
    assert f'hx-disabled-elt=".action-{action.pk} button"' in card  # buttons off while in flight
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING  # nothing happens before the click


def test_confirming_twice_cancels_the_order_exactly_once(llm, logged_in, conversation, customer, pending_order):
    action = propose_cancel(llm, conversation, customer, pending_order)
    url = reverse("chat:action_confirm", args=[action.pk])
    data = {"idempotency_key": action.idempotency_key}

    first = logged_in.post(url, data, **HTMX)
    second = logged_in.post(url, data, **HTMX)

    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.CANCELLED
    assert ToolCallLog.objects.filter(tool="cancel_pending_order", source="confirmation").count() == 1
    assert first.status_code == second.status_code == 200
    first_html, second_html = first.content.decode(), second.content.decode()
    assert (
        "Confirmed" in first_html
        and f"Order {pending_order.order_id} is cancelled." in first_html
        and "Please confirm" not in first_html
    )
    # The result message joins the thread out of band, once.
    assert 'hx-swap-oob="beforeend:#chat-log"' in first_html and "Done — cancel order" in first_html
    assert "Confirmed" in second_html and "hx-swap-oob" not in second_html
    assert Message.objects.filter(conversation=conversation, text__startswith="Done —").count() == 1


def test_confirming_without_javascript_redirects_back_to_the_card(
    llm, logged_in, conversation, customer, pending_order
):
    action = propose_cancel(llm, conversation, customer, pending_order)

    response = logged_in.post(
        reverse("chat:action_confirm", args=[action.pk]), {"idempotency_key": action.idempotency_key}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("chat:conversation", args=[conversation.pk]) + f"#action-{action.pk}"
    page = logged_in.get(response["Location"]).content.decode()
    assert f"Order {pending_order.order_id} is cancelled." in page
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.CANCELLED


def test_cancel_on_the_card_declines_and_changes_nothing(llm, logged_in, conversation, customer, pending_order):
    action = propose_cancel(llm, conversation, customer, pending_order)

    html = logged_in.post(reverse("chat:action_decline", args=[action.pk]), **HTMX).content.decode()

    action.refresh_from_db()
    pending_order.refresh_from_db()
    assert action.status == PendingAction.Status.DECLINED and pending_order.status == Order.Status.PENDING
    assert "Nothing was changed." in html
    # Confirming after declining is refused with the service's message, shown on the card.
    refused = logged_in.post(reverse("chat:action_confirm", args=[action.pk]), **HTMX).content.decode()
    assert "You declined this action" in refused
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING


def test_another_customers_action_is_not_found(llm, client, conversation, customer, pending_order):
    action = propose_cancel(llm, conversation, customer, pending_order)
    client.force_login(make_customer().user)

    response = client.post(reverse("chat:action_confirm", args=[action.pk]), **HTMX)

    assert response.status_code == 404 and response["HX-Retarget"] == "#chat-errors"
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING


def test_product_lookups_render_a_card_with_notify_me_for_missing_items(llm, logged_in, conversation, customer):
    in_stock = VariantFactory(options={"size": "M"}, price="24.50")
    missing = VariantFactory(product=in_stock.product, options={"size": "L"}, stock_quantity=0)
    llm.add(
        ScriptedLLM.calls(("get_product_details", {"product_id": in_stock.product.product_id})),
        ScriptedLLM.text("Size M is in stock; L is sold out."),
    )
    chat_turn(conversation=conversation, text="Do you have it in L?", user=customer.user)

    html = logged_in.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()

    card = html[html.index("product-card") :]
    assert in_stock.product.name in card and "size: M" in card and "$24.50" in card and "In stock" in card
    notify_url = reverse("chat:restock", args=[missing.item_id])
    assert notify_url in card and reverse("chat:restock", args=[in_stock.item_id]) not in card

    response = logged_in.post(notify_url, {"conversation": conversation.pk}, **HTMX)

    assert response.status_code == 200 and "we&#x27;ll email you" in response.content.decode()
    assert RestockSubscription.objects.filter(customer=customer, variant=missing, status="active").count() == 1
    # An item that is in stock can't be subscribed to; the reason is shown.
    refused = logged_in.post(reverse("chat:restock", args=[in_stock.item_id]), **HTMX)
    assert refused.status_code == 400 and "in stock now" in refused.content.decode()


def test_order_lookups_render_an_order_card_with_tracking(llm, logged_in, conversation, customer):
    card_method = PaymentMethodFactory(customer=customer)
    order = make_order(customer=customer, variants=[VariantFactory()], payment_method=card_method, status="processed")
    llm.add(
        ScriptedLLM.calls(("get_order_details", {"order_id": order.order_id})), ScriptedLLM.text("It's on the way.")
    )
    chat_turn(conversation=conversation, text="Where is my order?", user=customer.user)

    html = logged_in.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()

    card = html[html.index("order-card") :]
    assert f"Order {order.order_id}" in card and "Processed" in card and "123456789012" in card
    assert reverse("orders:detail", args=[order.order_id.lstrip("#")]) in card


def test_thumbs_and_an_optional_comment_are_recorded(llm, logged_in, conversation, customer):
    answer = Message.objects.create(conversation=conversation, role="assistant", text="Our store opens at 9.")
    url = reverse("chat:feedback", args=[answer.pk])

    thumbs = logged_in.post(url, {"rating": "down"}, **HTMX)
    assert thumbs.status_code == 200
    html = thumbs.content.decode()
    assert "Thanks for your feedback." in html and 'aria-pressed="true"' in html and "Tell us more" in html
    logged_in.post(url, {"rating": "down", "comment": "It opens at 10 on Sundays."}, **HTMX)

    feedback = Feedback.objects.get(message=answer)
    assert (feedback.rating, feedback.comment, feedback.user_id) == (
        "down",
        "It opens at 10 on Sundays.",
        customer.user.pk,
    )


def test_feedback_needs_a_valid_rating_and_ones_own_message(logged_in, customer):
    theirs = Conversation.objects.create(customer=make_customer())
    other_answer = Message.objects.create(conversation=theirs, role="assistant", text="Hi")
    mine = Message.objects.create(
        conversation=Conversation.objects.create(customer=customer), role="assistant", text="Hi"
    )

    assert logged_in.post(reverse("chat:feedback", args=[other_answer.pk]), {"rating": "up"}, **HTMX).status_code == 404
    invalid = logged_in.post(reverse("chat:feedback", args=[mine.pk]), {"rating": "meh"}, **HTMX)
    assert invalid.status_code == 400 and "thumbs up or thumbs down" in invalid.content.decode()
    assert not Feedback.objects.exists()


def test_the_talk_to_a_human_quick_reply_opens_a_ticket(llm, logged_in, customer):
    response = logged_in.post(reverse("chat:send"), {"text": "Talk to a human"})

    ticket = Ticket.objects.get(customer=customer)
    page = logged_in.get(response["Location"]).content.decode()
    assert ticket.number in page and llm.requests == []


def test_the_widget_shows_on_other_pages_and_opens_the_latest_conversation(llm, logged_in, conversation, customer):
    Message.objects.create(conversation=conversation, role="user", text="Is my parcel late?")

    orders_page = logged_in.get(reverse("orders:list")).content.decode()
    assert 'class="chat-widget"' in orders_page
    assert re.search(r'<a class="chat-widget-toggle" href="/chat/" hx-get="/chat/widget/"', orders_page)
    assert 'class="chat-widget"' not in logged_in.get(reverse("chat:index")).content.decode()

    panel = logged_in.get(reverse("chat:widget"), **HTMX).content.decode()
    assert "Is my parcel late?" in panel and f'name="conversation" value="{conversation.pk}"' in panel
    assert 'name="widget" value="1"' in panel
    assert logged_in.get(reverse("chat:widget")).status_code == 302  # no htmx: the full chat page


@pytest.mark.parametrize(
    ("new_price", "money"),
    [("83.05", "Refund $5.95 to Visa ending 4242"), ("95.50", "You pay $6.50 more, charged to Visa ending 4242")],
)
def test_an_exchange_card_names_old_and_new_options_and_the_difference_in_words(
    logged_in, conversation, customer, new_price, money
):
    from decimal import Decimal

    from assistant.actions import action_propose
    from assistant.tools.registry import ToolContext
    from orders.tests.factories import ProductFactory

    visa = PaymentMethodFactory(customer=customer, brand="visa", last_four="4242")
    shoes = ProductFactory(name="Cloudstep Running Shoes")
    ten = VariantFactory(product=shoes, price=Decimal("89.00"), options={"size": "10", "colour": "black"})
    eleven = VariantFactory(product=shoes, price=Decimal(new_price), options={"size": "11", "colour": "black"})
    order = make_order(customer=customer, variants=[ten], payment_method=visa, status="delivered")
    action = action_propose(
        conversation=conversation,
        context=ToolContext(customer=customer, conversation_id=conversation.pk),
        tool_name="exchange_delivered_order_items",
        arguments={
            "order_id": order.order_id,
            "item_ids": [ten.item_id],
            "new_item_ids": [eleven.item_id],
            "payment_method_id": visa.payment_method_id,
        },
    )
    answer = Message.objects.create(conversation=conversation, role="assistant", text="Please check the card.")
    PendingAction.objects.filter(pk=action.pk).update(message=answer)

    html = logged_in.get(reverse("chat:conversation", args=[conversation.pk])).content.decode()

    card = html[html.index(f'id="action-{action.pk}"') :]
    card = card[: card.index("</form>\n      <form")]
    words = " ".join(re.sub(r"<[^>]+>", " ", card).split())
    assert "Exchange items from order " + order.order_id in card
    assert "Cloudstep Running Shoes" in card and "(size: 10, colour: black)" in card
    assert "→ size: 11, colour: black" in card
    assert money in words
    assert "Yes, exchange these items" in card
    for internal in (ten.item_id, eleven.item_id, visa.payment_method_id):
        assert internal not in card
