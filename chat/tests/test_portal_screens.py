"""The portal's screens as a customer sees them (issue 21), in Debian's headless Chromium.

Each test builds the state through the real services (tickets, staff replies, proposed and
decided actions, returns and exchanges), opens the page, asserts what is visible, checks the page
with axe-core (no serious or critical violations) and saves a screenshot at 1280 px and at
390 px (a phone) to docs/screenshots/portal-<screen>-<width>.png for the README.

axe-core comes bundled in axe-playwright-python (requirements-dev.txt); nothing is downloaded
while the tests run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from assistant.actions import action_confirm, action_decline, action_propose, action_supersede
from assistant.tools.registry import ToolContext
from chat.models import Conversation, Message, PendingAction
from chat.tests.conftest import make_customer
from chat.tests.test_portal_browser import PASSWORD
from orders import services
from orders.models import Order, PaymentMethod
from orders.tests.factories import PaymentMethodFactory, ProductFactory, VariantFactory, make_order
from supportbot.tests.browser import TIMEOUT_MS
from tickets.services import ticket_create_from_conversation
from tickets.staff_services import ticket_reply

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
BLOCKING_IMPACTS = {"serious", "critical"}


@pytest.fixture
def screen(browser, live_server) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def log_in(page, customer, *, then: str = "/chat/") -> None:
    page.goto(f"/accounts/login/?next={then}")
    page.locator("input[name=username]").fill(customer.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(then)))


def assert_accessible(page, where: str) -> None:
    """axe-core over the whole page: no serious or critical violations (contrast, names, roles...)."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    blocking = [
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in violation["nodes"][:3])
        for violation in violations
        if violation["impact"] in BLOCKING_IMPACTS
    ]
    assert blocking == [], f"axe-core on {where}: {blocking}"


def capture(page, name: str, *, element: Any = None, at_phone: Any = None, full_page: bool = False) -> None:
    """portal-<name>-1280.png, and (after resizing) portal-<name>-390.png; axe runs at both widths."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def shoot(width: int) -> None:
        path = str(SCREENSHOTS / f"portal-{name}-{width}.png")
        if element is not None:
            element.screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=full_page)

    assert_accessible(page, f"{name} at 1280 px")
    shoot(1280)
    page.set_viewport_size(PHONE)
    if at_phone is not None:
        at_phone()
    assert_accessible(page, f"{name} at 390 px")
    shoot(390)
    page.set_viewport_size(DESKTOP)


def style(locator, prop: str) -> str:
    return str(locator.evaluate(f"(el) => getComputedStyle(el).getPropertyValue('{prop}')"))


# --- chat with a staff reply -----------------------------------------------------------------


def escalated_with_staff_reply() -> tuple[Any, Conversation]:
    customer = make_customer(first_name="Dana", last_name="Reyes")
    conversation = Conversation.objects.create(customer=customer)
    Message.objects.create(
        conversation=conversation, role="user", text="my parcel says delivered but nothing came, can a person look?"
    )
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        model="offline",
        text="I'm sorry it hasn't reached you. I've passed this to our support team; a person will answer here.",
    )
    ticket = ticket_create_from_conversation(
        conversation=conversation, subject="Parcel marked delivered, not received", summary="", priority="high"
    )
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.ESCALATED)
    maria = get_user_model().objects.create_user(
        username="maria.support", first_name="Maria", is_staff=True, password="staff-pass-123"
    )
    ticket_reply(
        ticket_id=ticket.pk,
        author=maria,
        text=(
            "Hi Dana, I'm Maria from the support team. I've asked the carrier for:\n"
            "• the driver's GPS scan\n• the photo taken at your door\n"
            "I'll write back here by tomorrow noon."
        ),
    )
    return customer, conversation


def test_a_staff_reply_looks_like_a_person_and_the_heading_says_who_answers(screen):
    from playwright.sync_api import expect

    customer, conversation = escalated_with_staff_reply()
    log_in(screen, customer)
    screen.goto(f"/chat/{conversation.pk}/")

    expect(screen.get_by_role("heading", level=1)).to_have_text("Chat with Maria from our support team")
    staff = screen.locator("#chat-log .msg-staff")
    expect(staff).to_have_count(1)
    expect(staff.locator(".msg-author")).to_contain_text("Maria · Support team")
    expect(staff.locator("ul li")).to_have_count(2)  # the "•" lines are a real list
    expect(staff.get_by_text("Helpful?")).to_have_count(0)
    bot = screen.locator("#chat-log .msg-assistant").last
    expect(bot.get_by_text("Helpful?")).to_be_visible()
    assert style(staff.locator(".bubble"), "background-color") != style(bot.locator(".bubble"), "background-color")
    # A person has the conversation: no chips asking for one (or sending canned requests to them).
    expect(screen.get_by_role("button", name="Talk to a human")).to_have_count(0)
    expect(screen.get_by_role("group", name="Quick replies")).to_be_hidden()
    capture(screen, "chat-staff-reply")


def test_asking_for_a_person_updates_the_heading_and_chips_without_a_reload(screen, llm):
    from playwright.sync_api import expect

    customer = make_customer(first_name="Sam")
    log_in(screen, customer)
    expect(screen.get_by_role("heading", level=1)).to_have_text("Chat with our assistant")
    screen.get_by_role("button", name="Talk to a human").click()

    expect(screen.locator("#chat-log .msg-assistant:not(.msg-pending)").last).to_contain_text("ticket")
    expect(screen.get_by_role("heading", level=1)).to_have_text("Chat with our support team")
    expect(screen.get_by_role("button", name="Talk to a human")).to_have_count(0)
    # The page served after a reload agrees with what the turn changed in place.
    screen.reload()
    expect(screen.get_by_role("heading", level=1)).to_have_text("Chat with our support team")
    expect(screen.get_by_role("button", name="Talk to a human")).to_have_count(0)


# --- the sidebar -----------------------------------------------------------------------------

REQUESTS = [
    "where is my order #W2378156?",
    "do you have the cloudstep running shoes in blue, size 11? my old pair is falling apart after two years",
    "how long does shipping usually take?",
    "i want to return the floor cushion, doesn't match my sofa",
    "charge me twice??",
    "can i change the address on my kettle order",
    "is the e-reader waterproof",
    "what's your refund policy for opened electronics that arrived with a scratched screen",
    "hi",
    "cancel #W1234567 please",
    "my discount code didn't work",
    "how do i reset my password",
]


def test_the_sidebar_titles_conversations_by_topic_and_keeps_the_open_one_in_view(screen):
    from playwright.sync_api import expect

    customer = make_customer()
    start = timezone.now() - timedelta(days=3)
    conversations = []
    for index, text in enumerate(REQUESTS):
        conversation = Conversation.objects.create(customer=customer)
        Message.objects.create(conversation=conversation, role="user", text=text)
        Message.objects.create(conversation=conversation, role="assistant", model="offline", text="Let me check.")
        Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=start + timedelta(hours=index))
        conversations.append(conversation)
    oldest = conversations[0]  # last in the list, below the fold of a 12-row list
    # The cushion conversation names no order; the return the assistant proposed there does.
    visa = PaymentMethodFactory(customer=customer)
    cushion = VariantFactory(product=ProductFactory(name="Floor Cushion"), options={"colour": "sage"})
    cushion_order = make_order(customer=customer, variants=[cushion], payment_method=visa, status="delivered")
    propose(
        conversations[3],
        customer,
        "return_delivered_order_items",
        {
            "order_id": cushion_order.order_id,
            "item_ids": [cushion.item_id],
            "payment_method_id": visa.payment_method_id,
        },
    )
    log_in(screen, customer)
    screen.goto(f"/chat/{oldest.pk}/")

    rows = screen.locator(".conversation-list a")
    expect(rows).to_have_count(len(REQUESTS))
    expect(rows.first).to_contain_text("how do i reset my password")
    current = screen.locator(".conversation-list a[aria-current='page']")
    expect(current).to_have_count(1)
    expect(current.locator(".conversation-title")).to_have_text("where is my order #W2378156?")
    expect(current.locator(".conversation-meta")).not_to_contain_text("Order")  # the title already says it
    cushion_row = screen.get_by_role("link", name=re.compile("return the floor cushion"))
    expect(cushion_row.locator(".conversation-meta")).to_contain_text(f"Order {cushion_order.order_id}")
    assert not re.search(r"^\w{3} \d{1,2}, \d\d:\d\d$", rows.first.locator(".conversation-title").inner_text())

    def in_view() -> None:
        box = screen.locator(".conversation-list").bounding_box()
        row = current.bounding_box()
        assert box and row and row["y"] >= box["y"] - 1 and row["y"] + row["height"] <= box["y"] + box["height"] + 1

    in_view()
    long_title = screen.get_by_role("link", name=re.compile("cloudstep running shoes")).locator(".conversation-title")
    # Cut with an ellipsis on one line, the full words still in the text for screen readers.
    assert style(long_title, "text-overflow") == "ellipsis" and style(long_title, "white-space") == "nowrap"
    heights = {round(rows.nth(i).bounding_box()["height"]) for i in range(len(REQUESTS))}
    assert max(heights) - min(heights) <= 2, f"rows of different heights: {heights}"

    def on_a_phone() -> None:
        screen.reload()  # opened on the phone: the list is shorter there, and the open row still shows
        in_view()

    capture(screen, "sidebar", element=screen.locator(".chat-layout"), at_phone=on_a_phone)


# --- confirmation cards in every state -----------------------------------------------------


def propose(conversation: Conversation, customer: Any, tool: str, arguments: dict[str, Any]) -> PendingAction:
    """A real proposal (the tool's own description), shown under the offline assistant's message."""
    action = action_propose(
        conversation=conversation,
        context=ToolContext(customer=customer, conversation_id=conversation.pk),
        tool_name=tool,
        arguments=arguments,
    )
    message = Message.objects.create(
        conversation=conversation,
        role="assistant",
        model="offline",
        text=f"Here's what I'll do: {action.description.rstrip('.')}.\nReply “yes” to confirm, or “no” to leave everything as it is.",
    )
    PendingAction.objects.filter(pk=action.pk).update(message=message)
    action.refresh_from_db()
    return action


def cards_conversation() -> tuple[Any, Conversation, dict[str, PendingAction], list[str]]:
    customer = make_customer(first_name="Noor")
    visa = PaymentMethodFactory(customer=customer, brand="visa", last_four="1234")
    gift = PaymentMethodFactory(
        customer=customer, source=PaymentMethod.Source.GIFT_CARD, payment_method_id="gift_card_8932269"
    )
    lamp = ProductFactory(name="Desk Lamp")
    warm = VariantFactory(product=lamp, price=Decimal("19.99"), options={"colour": "warm white"})
    cool = VariantFactory(product=lamp, price=Decimal("21.49"), options={"colour": "cool white"})
    shoes = ProductFactory(name="Cloudstep Running Shoes")
    ten = VariantFactory(product=shoes, price=Decimal("89.00"), options={"size": "10", "colour": "black"})
    eleven = VariantFactory(product=shoes, price=Decimal("83.05"), options={"size": "11", "colour": "black"})
    kettle = VariantFactory(product=ProductFactory(name="Electric Kettle"), price=Decimal("34.50"), options={})

    waiting = make_order(customer=customer, variants=[warm, kettle], payment_method=visa)
    returned = make_order(customer=customer, variants=[ten, kettle], payment_method=visa, status="delivered")
    failing = make_order(customer=customer, variants=[kettle], payment_method=gift)
    declined = make_order(customer=customer, variants=[ten], payment_method=visa, status="delivered")
    lapsing = make_order(customer=customer, variants=[cool], payment_method=visa)
    replaced = make_order(customer=customer, variants=[warm], payment_method=visa)

    conversation = Conversation.objects.create(customer=customer)
    Message.objects.create(conversation=conversation, role="user", text="what are my orders?")
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        model="offline",
        text=f"You have 6 orders:\n• {waiting.order_id} — pending\n• {returned.order_id} — delivered\n"
        f"• {failing.order_id} — pending\nWhich one would you like to look at?",
    )
    actions: dict[str, PendingAction] = {}
    actions["done"] = propose(
        conversation,
        customer,
        "return_delivered_order_items",
        {"order_id": returned.order_id, "item_ids": [ten.item_id], "payment_method_id": gift.payment_method_id},
    )
    action_confirm(action_id=actions["done"].pk, customer=customer)
    actions["failed"] = propose(
        conversation, customer, "cancel_pending_order", {"order_id": failing.order_id, "reason": "no longer needed"}
    )
    # It shipped while the card waited: confirming is refused by the store, for real.
    Order.objects.filter(pk=failing.pk).update(status=Order.Status.PROCESSED)
    action_confirm(action_id=actions["failed"].pk, customer=customer)
    actions["declined"] = propose(
        conversation,
        customer,
        "exchange_delivered_order_items",
        {
            "order_id": declined.order_id,
            "item_ids": [ten.item_id],
            "new_item_ids": [eleven.item_id],
            "payment_method_id": visa.payment_method_id,
        },
    )
    action_decline(action_id=actions["declined"].pk, customer=customer)
    actions["expired"] = propose(
        conversation,
        customer,
        "modify_pending_order_payment",
        {"order_id": lapsing.order_id, "payment_method_id": gift.payment_method_id},
    )
    PendingAction.objects.filter(pk=actions["expired"].pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    actions["superseded"] = propose(
        conversation, customer, "cancel_pending_order", {"order_id": replaced.order_id, "reason": "no longer needed"}
    )
    action_supersede(action_id=actions["superseded"].pk, customer=customer)
    actions["waiting"] = propose(
        conversation, customer, "cancel_pending_order", {"order_id": waiting.order_id, "reason": "ordered by mistake"}
    )
    internal_ids = [
        visa.payment_method_id,
        gift.payment_method_id,
        *(variant.item_id for variant in (warm, cool, ten, eleven, kettle)),
    ]
    return customer, conversation, actions, internal_ids


STATE_LABELS = {
    "waiting": "Please confirm",
    "done": "Confirmed",
    "failed": "Couldn't be done",
    "declined": "Not done — you said no",
    "expired": "Expired",
    "superseded": "Replaced",
}


def test_each_card_state_is_distinct_and_cards_speak_in_products_amounts_and_actions(screen):
    from playwright.sync_api import expect

    customer, conversation, actions, internal_ids = cards_conversation()
    log_in(screen, customer)
    screen.goto(f"/chat/{conversation.pk}/")

    borders = {}
    for state, action in actions.items():
        card = screen.locator(f"#action-{action.pk}")
        expect(card).to_have_class(re.compile(rf"\bcard-{state}\b"))
        expect(card.locator(".action-state")).to_contain_text(STATE_LABELS[state])
        text = card.inner_text()
        for internal in internal_ids:
            assert internal not in text, f"{state} card shows the internal id {internal}"
        borders[state] = (style(card, "border-left-color"), style(card, "border-left-style"))
        if state != "waiting":
            expect(card.locator("button")).to_have_count(0)
    assert len(set(borders.values())) == len(borders), f"two states look alike: {borders}"

    waiting = screen.locator(f"#action-{actions['waiting'].pk}")
    expect(waiting.locator(".action-title")).to_contain_text("Cancel order")
    expect(waiting.get_by_role("button", name="Yes, cancel the order")).to_be_visible()
    expect(waiting.get_by_role("button", name="Keep my order")).to_be_visible()
    expect(waiting.locator(".action-items")).to_contain_text("Desk Lamp (colour: warm white) · $19.99")
    expect(waiting.locator(".action-items")).to_contain_text("Electric Kettle · $34.50")
    expect(waiting.locator(".action-facts")).to_contain_text("$54.49 to Visa ending 1234 within 5–7 business days")

    done = screen.locator(f"#action-{actions['done'].pk}")
    expect(done.locator(".action-items")).to_contain_text("Cloudstep Running Shoes (size: 10, colour: black) · $89.00")
    expect(done.locator(".action-facts")).to_contain_text("$89.00 to gift card ending 2269 once the items arrive")
    expect(done.locator(".action-result")).to_contain_text("Return requested. We've emailed you")

    failed = screen.locator(f"#action-{actions['failed'].pk}")
    danger = style(failed.locator(".action-result"), "color")
    assert style(failed, "border-left-color") == danger, "a failed card's border must match its red text"
    assert style(done, "border-left-color") != danger
    expect(failed.locator(".action-result")).to_contain_text("Nothing was changed")
    expect(failed.locator(".action-facts")).to_have_count(0)  # no "Refund … right away" for what never ran

    declined = screen.locator(f"#action-{actions['declined'].pk}")
    expect(declined.locator(".action-items")).to_contain_text("→ size: 11, colour: black")
    expect(declined.locator(".action-result")).to_contain_text("No exchange was requested")

    # The assistant's words point at the card instead of repeating it; its list is a list.
    bubble = screen.locator(f"#m{actions['waiting'].message_id} .bubble")
    expect(bubble).to_contain_text("Here's what I'll do: see the card below.")
    assert actions["waiting"].description.rstrip(".") not in bubble.inner_text()
    listing = screen.locator("#chat-log .msg-assistant .md ul").first
    expect(listing.locator("li")).to_have_count(3)

    screen.locator("#chat-log").evaluate("(log) => { log.scrollTop = 0; }")
    capture(screen, "cards")
    for state, action in actions.items():
        card = screen.locator(f"#action-{action.pk}")
        card.scroll_into_view_if_needed()
        capture(screen, f"card-{state}", element=card, at_phone=card.scroll_into_view_if_needed)

    # With the keyboard alone: Tab from "Keep my order" back to the confirm button, then Enter.
    waiting.get_by_role("button", name="Keep my order").focus()
    screen.keyboard.press("Shift+Tab")
    expect(waiting.get_by_role("button", name="Yes, cancel the order")).to_be_focused()
    screen.keyboard.press("Enter")
    confirmed = screen.locator(f"#action-{actions['waiting'].pk}")
    expect(confirmed.locator(".action-state")).to_contain_text("Confirmed")
    expect(confirmed.locator(".action-result")).to_contain_text("is cancelled.")
    assert Order.objects.get(order_id=actions["waiting"].arguments["order_id"]).status == Order.Status.CANCELLED


def test_a_card_works_without_javascript(browser, live_server):
    from playwright.sync_api import expect

    customer, conversation, actions, _ = cards_conversation()
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        log_in(page, customer)
        page.goto(f"/chat/{conversation.pk}/")
        waiting = page.locator(f"#action-{actions['waiting'].pk}")
        waiting.get_by_role("button", name="Keep my order").click()
        page.wait_for_url(re.compile(rf"#action-{actions['waiting'].pk}$"))
        card = page.locator(f"#action-{actions['waiting'].pk}")
        expect(card.locator(".action-state")).to_contain_text("Not done — you said no")
        expect(card.locator(".action-result")).to_contain_text("stays as it is")
    finally:
        context.close()


# --- the order page after an exchange and a return ------------------------------------------


def test_the_order_page_names_returned_and_exchanged_items_and_the_money_in_words(screen):
    from playwright.sync_api import expect

    customer = make_customer(first_name="Lee")
    visa = PaymentMethodFactory(customer=customer, brand="visa", last_four="1234")
    gift = PaymentMethodFactory(
        customer=customer, source=PaymentMethod.Source.GIFT_CARD, payment_method_id="gift_card_8932269"
    )
    shoes = ProductFactory(name="Cloudstep Running Shoes")
    ten = VariantFactory(product=shoes, price=Decimal("89.00"), options={"size": "10", "colour": "black"})
    eleven = VariantFactory(product=shoes, price=Decimal("83.05"), options={"size": "11", "colour": "black"})
    cushion = VariantFactory(
        product=ProductFactory(name="Floor Cushion"), price=Decimal("45.00"), options={"colour": "sage"}
    )
    exchanged = make_order(customer=customer, variants=[ten, cushion], payment_method=visa, status="delivered")
    returned = make_order(customer=customer, variants=[cushion, ten], payment_method=visa, status="delivered")
    services.order_exchange_items(
        order_id=exchanged.order_id,
        item_ids=[ten.item_id],
        new_item_ids=[eleven.item_id],
        payment_method_id=visa.payment_method_id,
    )
    services.order_return_items(
        order_id=returned.order_id, item_ids=[cushion.item_id], payment_method_id=gift.payment_method_id
    )

    log_in(screen, customer, then=f"/orders/{exchanged.order_id.lstrip('#')}/")
    exchange = screen.locator("#exchange-request")
    expect(exchange).to_contain_text("Cloudstep Running Shoes (size: 10, colour: black) → size: 11, colour: black")
    expect(exchange).to_contain_text("Price difference: a refund of $5.95 to Visa ending 1234.")
    expect(screen.locator("main")).not_to_contain_text("$-")
    for internal in (visa.payment_method_id, ten.item_id, eleven.item_id):
        expect(screen.locator("main")).not_to_contain_text(internal)
    capture(screen, "order-exchange", full_page=True)

    screen.goto(f"/orders/{returned.order_id.lstrip('#')}/")
    request = screen.locator("#return-request")
    expect(request.locator("li")).to_have_count(1)
    expect(request).to_contain_text("Floor Cushion (colour: sage) · $45.00")
    expect(request).to_contain_text("Once the items arrive, we'll refund them to gift card ending 2269.")
    expect(screen.locator("main")).not_to_contain_text("gift_card_8932269")
    capture(screen, "order-return", full_page=True)
