"""The customer portal in a real browser: Debian's headless Chromium driven by Playwright against
pytest-django's live server (real database, real htmx, real server-sent events).

The assistant's words come from the scripted Chat Completions server (a real HTTP server);
everything else — retrieval, tools, confirmations, escalation, tickets — is the real code.
Screenshots of the main screens are written to var/screenshots/.

Chromium must be at /usr/bin/chromium (`scripts/ensure-chromium`, run by `make test`,
installs Debian's package when it can); never a downloaded browser. Without it these skip.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Message, ToolCallLog
from chat.tests.conftest import make_customer
from orders.models import Order, RestockSubscription
from orders.tests.factories import PaymentMethodFactory, VariantFactory, make_order
from supportbot.tests.browser import TIMEOUT_MS
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "chat-test-pass-123"  # chat.tests.conftest.make_customer's
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
CONTENT = Path(settings.BASE_DIR) / "knowledge" / "content"


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1180, "height": 860}, base_url=live_server.url)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def log_in(page, customer) -> None:
    page.goto("/accounts/login/?next=/chat/")
    page.locator("input[name=username]").fill(customer.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/chat/"))


def send(page, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.get_by_role("button", name="Send", exact=True).click()


def last_answer(page):
    return page.locator("#chat-log .msg-assistant:not(.msg-pending)").last


def test_log_in_and_ask_a_policy_question_get_a_cited_answer(page, llm):
    from playwright.sync_api import expect

    from knowledge.services import document_ingest_path

    document_ingest_path(path=CONTENT / "returns-and-refunds.md")
    customer = make_customer(first_name="Dana", last_name="Demo")
    llm.add(
        ScriptedLLM.text(
            "You can return unused items within **30 days** of delivery [1]. Refunds go to the original payment method."
        )
    )

    log_in(page, customer)
    expect(page.get_by_role("heading", name="Chat with our assistant")).to_be_visible()
    send(page, "How long do I have to return something?")

    answer = last_answer(page)
    expect(answer).to_contain_text("within 30 days of delivery")
    expect(answer.locator("strong")).to_have_text("30 days")
    expect(answer.locator("sup a")).to_have_text("[1]")
    source = answer.locator(".sources a").first
    expect(source).to_contain_text("Returns")
    assert source.get_attribute("href").startswith("/help/returns-and-refunds/")
    screenshot(page, "chat-cited-answer")

    source.click()
    page.wait_for_url(re.compile(r"/help/returns-and-refunds/"))
    expect(page.locator("h1")).to_contain_text("Return")


def test_cancel_a_pending_order_through_the_confirmation_card_exactly_once(page, llm):
    from playwright.sync_api import expect

    customer = make_customer()
    gift_card = PaymentMethodFactory(customer=customer, source="gift_card")
    order = make_order(customer=customer, variants=[VariantFactory(), VariantFactory()], payment_method=gift_card)
    llm.add(
        ScriptedLLM.calls(("cancel_pending_order", {"order_id": order.order_id, "reason": "no longer needed"})),
        ScriptedLLM.text(f"I can cancel order {order.order_id} for you. Please confirm below."),
    )
    log_in(page, customer)
    send(page, f"Please cancel order {order.order_id}, I no longer need it")

    card = page.locator(".action-card")
    expect(card).to_contain_text("Please confirm")
    expect(card).to_contain_text(f"Cancel order {order.order_id}")
    screenshot(page, "chat-confirmation-card")
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING

    card.get_by_role("button", name="Yes, cancel the order").dblclick()

    expect(page.locator(".action-card")).to_contain_text("Confirmed")
    expect(page.locator(".action-card")).to_contain_text(f"Order {order.order_id} is cancelled.")
    expect(page.locator("#chat-log .msg-assistant .bubble", has_text="Done — cancel order")).to_have_count(1)
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELLED
    assert ToolCallLog.objects.filter(tool="cancel_pending_order", source="confirmation").count() == 1
    assert Message.objects.filter(text__startswith="Done —").count() == 1
    # After a reload the card still shows the outcome, with no buttons left to press.
    page.reload()
    expect(page.locator(".action-card")).to_contain_text("Confirmed")
    expect(page.locator(".action-card button")).to_have_count(0)


def test_a_newer_proposal_for_the_same_order_replaces_the_older_card(page, llm):
    from playwright.sync_api import expect

    customer = make_customer()
    gift_card = PaymentMethodFactory(customer=customer, source="gift_card")
    order = make_order(customer=customer, variants=[VariantFactory()], payment_method=gift_card)
    llm.add(
        ScriptedLLM.calls(("cancel_pending_order", {"order_id": order.order_id, "reason": "no longer needed"})),
        ScriptedLLM.text("Shall I cancel it? Please confirm below."),
        ScriptedLLM.calls(("cancel_pending_order", {"order_id": order.order_id, "reason": "ordered by mistake"})),
        ScriptedLLM.text("Then I'll cancel it as ordered by mistake. Please confirm below."),
    )
    log_in(page, customer)
    send(page, f"Please cancel order {order.order_id}")
    expect(page.locator(".action-card")).to_have_count(1)
    send(page, "actually I ordered it by mistake")
    expect(page.locator(".action-card")).to_have_count(2)
    page.reload()

    older, newer = page.locator(".action-card").nth(0), page.locator(".action-card").nth(1)
    expect(older).to_contain_text("Replaced")
    expect(older).to_contain_text("A newer request for the same order replaced this one")
    expect(older.locator("button")).to_have_count(0)
    expect(newer).to_contain_text("Please confirm")
    expect(newer).to_contain_text(re.compile("ordered by mistake", re.IGNORECASE))
    screenshot(page, "chat-superseded-card")
    page.set_viewport_size({"width": 390, "height": 844})
    older.scroll_into_view_if_needed()
    expect(older).to_contain_text("Replaced")
    screenshot(page, "chat-superseded-card-390")


def test_subscribe_to_a_restock_alert_from_chat(page, llm):
    from playwright.sync_api import expect

    customer = make_customer()
    in_stock = VariantFactory(options={"size": "M"}, price="49.00")
    sold_out = VariantFactory(product=in_stock.product, options={"size": "L"}, price="49.00", stock_quantity=0)
    llm.add(
        ScriptedLLM.calls(("get_product_details", {"product_id": in_stock.product.product_id})),
        ScriptedLLM.text("Size M is in stock. Size L is sold out — press **Notify me** and we'll email you."),
    )
    log_in(page, customer)
    send(page, f"Is {in_stock.product.name} available in L?")

    card = page.locator(".product-card")
    expect(card).to_contain_text("size: L")
    expect(card).to_contain_text("Out of stock")
    screenshot(page, "chat-product-card")
    card.get_by_role("button", name=re.compile("Notify me")).click()

    expect(card).to_contain_text("we'll email you when it's back in stock")
    assert RestockSubscription.objects.filter(customer=customer, variant=sold_out, status="active").count() == 1


def test_escalate_to_a_human_and_find_the_ticket_on_my_tickets(page, llm):
    from playwright.sync_api import expect

    customer = make_customer()
    log_in(page, customer)
    page.get_by_role("button", name="Talk to a human").click()

    answer = last_answer(page)
    expect(answer).to_contain_text("your ticket number is")
    ticket = Ticket.objects.get(customer=customer)
    expect(answer).to_contain_text(ticket.number)

    page.get_by_role("link", name="My tickets").click()
    page.wait_for_url(re.compile(r"/tickets/"))
    expect(page.get_by_role("link", name=re.compile(ticket.number))).to_be_visible()
    screenshot(page, "my-tickets")
    page.get_by_role("link", name=re.compile(ticket.number)).click()
    expect(page.get_by_role("heading", name=f"Ticket {ticket.number}")).to_be_visible()


def test_send_with_the_keyboard_only(page, llm):
    from playwright.sync_api import expect

    customer = make_customer()
    llm.add(ScriptedLLM.text("Got both lines, thanks."))
    log_in(page, customer)

    for _ in range(40):
        if page.evaluate("document.activeElement && document.activeElement.id") == "composer-text":
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("The composer is not reachable with Tab.")
    # Keyboard focus is visible (the focus ring from :focus-visible).
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.type("First line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    page.keyboard.press("Enter")

    expect(last_answer(page)).to_contain_text("Got both lines, thanks.")
    expect(page.locator("#chat-log .msg-user").last.locator("br")).to_have_count(1)
    assert Message.objects.get(role="user").text == "First line\nsecond line"
    # The composer is emptied and keeps focus for the next message.
    expect(page.get_by_label("Your message")).to_have_value("")
    assert page.evaluate("document.activeElement.id") == "composer-text"


def test_an_xss_payload_in_a_message_renders_inert(page, llm):
    from playwright.sync_api import expect

    customer = make_customer()
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    llm.add(ScriptedLLM.text(f"You wrote {payload} and **that is fine**."))
    log_in(page, customer)
    send(page, payload)

    expect(last_answer(page)).to_contain_text("that is fine")
    expect(page.locator("#chat-log .msg-user").last).to_contain_text('<img src=x onerror="window.__xss=1">')
    assert page.evaluate("window.__xss") is None
    assert page.locator("#chat-log img, #chat-log script").count() == 0
    page.reload()  # the server-rendered thread is just as inert
    expect(last_answer(page)).to_contain_text("that is fine")
    assert page.evaluate("window.__xss") is None
    assert page.locator("#chat-log img, #chat-log script").count() == 0


def test_a_network_failure_offers_a_retry_that_sends_the_message(page, llm):
    from playwright.sync_api import expect

    customer = make_customer()
    llm.add(ScriptedLLM.text("Here after the retry."))
    log_in(page, customer)
    page.route("**/chat/send/", lambda route: route.abort("internetdisconnected"))
    send(page, "Are you there?")

    error = page.locator("#chat-errors [role=alert]")
    expect(error).to_contain_text("couldn't reach")
    expect(page.get_by_label("Your message")).to_have_value("Are you there?")  # nothing lost
    page.unroute("**/chat/send/")
    error.get_by_role("button", name="Try again").click()

    expect(last_answer(page)).to_contain_text("Here after the retry.")
    expect(page.locator("#chat-errors [role=alert]")).to_have_count(0)


def test_too_long_and_rate_limited_messages_show_the_error_partial(page, llm, settings):
    from playwright.sync_api import expect

    settings.CHAT_RATE_LIMIT = "1/m"
    customer = make_customer()
    llm.add(ScriptedLLM.text("First answer."))
    log_in(page, customer)

    send(page, "x" * 4001)
    expect(page.locator("#chat-errors [role=alert]")).to_contain_text("4,000 characters or fewer")
    send(page, "hello")
    expect(last_answer(page)).to_contain_text("First answer.")
    send(page, "hello again")
    expect(page.locator("#chat-errors [role=alert]")).to_contain_text("faster than we can answer")
    expect(page.get_by_label("Your message")).to_have_value("hello again")


def test_small_screens_and_the_floating_widget(browser, live_server, llm):
    from playwright.sync_api import expect

    customer = make_customer()
    llm.add(ScriptedLLM.text("Your parcel is with the carrier and should arrive **tomorrow**."))
    context = browser.new_context(viewport={"width": 360, "height": 740}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        log_in(page, customer)
        send(page, "When will my parcel arrive?")
        expect(last_answer(page)).to_contain_text("arrive tomorrow")
        # Nothing wider than the 360 px screen: no sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, "chat-mobile-360", full_page=True)

        page.goto("/orders/")
        toggle = page.get_by_role("link", name="Chat with us")
        toggle.click()
        panel = page.locator("#chat-widget-panel")
        expect(panel).to_be_visible()
        expect(panel).to_contain_text("arrive tomorrow")  # the same conversation
        expect(toggle).to_have_attribute("aria-expanded", "true")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, "widget-on-my-orders")
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
    finally:
        context.close()
