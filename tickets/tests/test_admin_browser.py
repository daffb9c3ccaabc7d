"""The staff screens in a real browser: Debian's headless Chromium driven by Playwright against the
live server, at 1280 px — the admin home, the ticket list, a ticket page and the dashboard.

Each test asserts what an agent sees (element boxes, computed styles, what is above the fold),
runs axe-core in the same page (the copy bundled in axe-playwright-python; nothing downloaded)
and saves a screenshot to docs/screenshots/. Chromium must be at /usr/bin/chromium
(`scripts/ensure-chromium`); without it these skip.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from assistant.escalation import conversation_escalate
from chat.models import Conversation, Feedback, Message, ToolCallLog
from orders.models import Fulfillment
from orders.tests.factories import PaymentMethodFactory, ProductFactory, VariantFactory, make_order
from supportbot.tests.browser import TIMEOUT_MS
from tickets.models import Ticket
from tickets.tests.conftest import PASSWORD, make_customer, make_staff

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
WIDTH, HEIGHT = 1280, 800
SERIOUS = {"serious", "critical"}


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, base_url=live_server.url)
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def lead(db):
    # A superuser: a transactional test flushes the support groups that a migration made.
    return make_staff("morgan", group=None, superuser=True, first_name="Morgan")


def log_in(page, user) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.locator("input[name=username]").fill(user.get_username())
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def screenshot(page, name: str, *, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def assert_accessible(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    serious = [
        f"{violation['id']} ({violation['impact']}): {[node['target'] for node in violation['nodes']][:3]}"
        for violation in violations
        if violation.get("impact") in SERIOUS
    ]
    assert serious == [], f"axe-core found serious accessibility problems: {serious}"


def box(locator) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not rendered"
    return found


# --- data -------------------------------------------------------------------------------


def late_order_ticket(*, first_name: str = "Priya", subject: str = "") -> Ticket:
    """A customer whose kettle is in transit talked to the assistant, then asked for a person."""
    customer = make_customer(first_name=first_name, last_name="Raman")
    card = PaymentMethodFactory(customer=customer, last_four="4242")
    kettle = make_order(
        customer=customer,
        variants=[VariantFactory(product=ProductFactory(name="Electric Kettle"), options={"color": "steel"})],
        payment_method=card,
        status="processed",
    )
    Fulfillment.objects.filter(order=kettle).update(carrier="FedEx", tracking_ids=["778899001122"])
    make_order(
        customer=customer,
        variants=[VariantFactory(product=ProductFactory(name="Desk Lamp"))],
        payment_method=card,
        status="delivered",
    )
    conversation = Conversation.objects.create(customer=customer, intent="track_order")
    said = [
        (
            "hi, i ordered an electric kettle almost two weeks ago and it still hasn't arrived. the tracking page "
            "hasn't changed for days and i need it before my parents visit this weekend — can you tell me "
            "where it actually is and whether it will make it in time?"
        ),
        "that doesn't help. i want to talk to a real person please",
    ]
    Message.objects.create(conversation=conversation, role="user", text=said[0])
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        text=(
            f"Your order {kettle.order_id} (Electric Kettle, steel) shipped with FedEx, tracking number "
            "778899001122, and is in transit. Parcels usually arrive within 5–7 business days of shipping."
        ),
        intent="track_order",
        model="offline",
        latency_ms=180,
        tool_calls=[{"id": "c1", "name": "track_order", "arguments": {"order_id": kettle.order_id}}],
    )
    Message.objects.create(conversation=conversation, role="user", text=said[1])
    conversation_escalate(conversation=conversation, reason="The customer asked for a person.")
    ticket = Ticket.objects.get(conversation=conversation)
    if subject:
        Ticket.objects.filter(pk=ticket.pk).update(subject=subject)
        ticket.refresh_from_db()
    return ticket


SUBJECTS = [
    "hi, i ordered an electric kettle almost two weeks ago and it still hasn't arrived",
    "Charged twice for order #W2378156 — please refund the duplicate payment to my Visa",
    "wrong size shoes delivered, need an exchange for size 11 in black",
    "Where is my refund? The return was received last week",
    "Cannot change the delivery address on my pending order",
    "The box came crushed and the mug inside is broken",
]


def ticket_queue() -> list[Ticket]:
    tickets = [late_order_ticket(first_name=f"Customer{n}", subject=subject) for n, subject in enumerate(SUBJECTS)]
    now = timezone.now()
    # A mix of SLA states, the way a real queue looks: breached, due soon, waiting on the customer.
    Ticket.objects.filter(pk=tickets[0].pk).update(sla_due_at=now - timedelta(hours=3), priority="urgent")
    Ticket.objects.filter(pk=tickets[1].pk).update(sla_due_at=now + timedelta(hours=2), priority="high")
    Ticket.objects.filter(pk=tickets[2].pk).update(status="waiting on customer")
    return tickets


# --- the screens ------------------------------------------------------------------------


def test_admin_home_lists_support_apps_first_and_technical_ones_last(page, lead):
    from playwright.sync_api import expect

    log_in(page, lead)
    screenshot(page, "admin-home")

    captions = [text.strip().lower() for text in page.locator("#content-main .module caption").all_inner_texts()]
    first = ["support tickets", "chat assistant", "store: customers, catalog and orders", "knowledge base"]
    assert captions[:4] == first, captions
    technical = ["authentication and authorization", "axes", "periodic tasks"]
    assert captions[-3:] == technical, captions
    expect(page.get_by_role("link", name="Support analytics dashboard")).to_be_visible()
    tickets = box(page.locator("#content-main .module caption", has_text="Support tickets"))
    assert tickets["y"] < HEIGHT  # the first thing an agent needs is above the fold
    orders = page.locator("#content-main .module", has=page.locator("caption", has_text="catalog and orders"))
    assert orders.locator("tbody th").first.inner_text().strip() == "Orders"
    assert_accessible(page)


def test_ticket_list_at_1280_px_keeps_the_subject_readable_and_the_sla_in_view(page, lead):
    ticket_queue()
    log_in(page, lead)
    page.goto("/admin/tickets/ticket/")
    screenshot(page, "admin-ticket-list")

    results = page.locator("#changelist .results")
    assert results.evaluate("element => element.scrollWidth <= element.clientWidth"), "the table scrolls sideways"
    visible_right = box(results)["x"] + box(results)["width"]
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == len(SUBJECTS)
    line_height = float(
        page.evaluate("parseFloat(getComputedStyle(document.querySelector('#result_list td')).lineHeight)")
    )
    for row in rows.all():
        subject = box(row.locator("td.field-subject_cell, th.field-subject_cell"))
        assert subject["width"] > 250, subject
        assert subject["height"] < 4 * line_height + 20, "the subject wraps a word per line"
        sla_cell = row.locator("td.field-sla_cell")
        sla = box(sla_cell)
        assert sla["x"] + sla["width"] <= min(WIDTH, visible_right + 1), f"SLA column cut off at {sla}"
        assert sla_cell.evaluate("element => element.scrollWidth <= element.clientWidth"), "SLA text clipped"
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    breached = page.locator("td.field-sla_cell .sla-breached")
    assert breached.count() == 1 and breached.inner_text().startswith("Breached")
    long_subject = page.locator(".ticket-subject", has_text="electric kettle").first
    assert long_subject.get_attribute("title") == SUBJECTS[0]
    assert_accessible(page)


def test_ticket_page_puts_the_conversation_and_reply_first_and_the_sent_message_in_view(page, lead):
    from playwright.sync_api import expect

    ticket = late_order_ticket()
    log_in(page, lead)
    page.goto(f"/admin/tickets/ticket/{ticket.pk}/change/")
    screenshot(page, "ticket-page")

    transcript = page.locator("#transcript")
    reply_box = page.locator("#reply textarea")
    assert box(transcript)["y"] < 300, "the conversation starts near the top"
    assert box(reply_box)["y"] + 80 < HEIGHT, "the reply box is on the first screen"
    assert box(reply_box)["width"] > 450 and box(reply_box)["height"] >= 150
    context = box(page.locator(".ticket-context"))
    assert context["x"] > box(transcript)["x"] + box(transcript)["width"] - 1, (
        "the context sits beside the conversation"
    )
    first_message = page.locator(".transcript .msg-text").first
    font = first_message.evaluate("element => getComputedStyle(element).fontFamily").lower()
    assert "mono" not in font and "courier" not in font, font
    assert first_message.evaluate("element => element.scrollWidth <= element.clientWidth"), "a line runs off the right"
    assert box(first_message)["height"] > 30  # the long message wraps onto several lines
    expect(page.locator(".transcript .msg-tag").first).to_have_text("Track order")
    expect(page.locator(".ticket-context")).to_contain_text("FedEx 778899001122")
    send = page.locator("#reply input[type=submit][value=Send]")
    assert box(send)["y"] + box(send)["height"] <= HEIGHT, "the Send button is on the first screen"
    assert send.evaluate("element => getComputedStyle(element).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert_accessible(page)

    page.locator("#reply input[value='Suggest reply']").click()
    page.wait_for_load_state()
    draft = reply_box.input_value()
    assert draft.startswith("Hi Priya,") and "FedEx, tracking number 778899001122" in draft
    expect(page.locator(".draft-note")).to_be_visible()
    assert box(reply_box)["height"] > 200, "the box grows to show the whole draft"
    page.locator("#reply").scroll_into_view_if_needed()
    screenshot(page, "ticket-suggested-reply")

    reply_box.fill("Hi Priya, I've asked FedEx to check on your kettle and will update you here by tomorrow.")
    send.click()
    page.wait_for_url(re.compile(rf"/admin/tickets/ticket/{ticket.pk}/change/$"))
    success = page.locator(".messagelist .success")
    expect(success).to_contain_text("Reply sent to")
    assert page.evaluate("window.scrollY") == 0
    assert box(success)["y"] >= 0 and box(success)["y"] + box(success)["height"] <= HEIGHT
    expect(page.locator(".transcript .msg-staff")).to_contain_text("asked FedEx to check on your kettle")
    screenshot(page, "ticket-reply-sent")


def test_dashboard_charts_labels_fit_tables_fold_and_intents_read_as_words(page, lead):
    from playwright.sync_api import expect

    customer = make_customer()
    now = timezone.now()
    intents = ["track_order"] * 4 + ["return_item"] * 2 + ["contact_human_agent", "check_refund_policy"]
    for index, intent in enumerate(intents):
        conversation = Conversation.objects.create(
            customer=customer,
            intent=intent,
            started_at=now - timedelta(hours=2),
            last_activity_at=now - timedelta(hours=1),
        )
        answer = Message.objects.create(
            conversation=conversation, role="assistant", text="Done.", latency_ms=120 + index, intent=intent
        )
        if index == 0:
            ToolCallLog.objects.create(
                conversation=conversation, tool="return_delivered_order_items", ok=True, source="confirmation"
            )
        if index == 1:
            Feedback.objects.create(message=answer, user=customer.user, rating="down")
        if intent == "contact_human_agent":
            Ticket.objects.create(
                number="T-9001", customer=customer, conversation=conversation, subject="s", sla_due_at=now, csat_score=4
            )
    for number, score in enumerate((5, 5, 2), start=2):
        Ticket.objects.create(number=f"T-900{number}", customer=customer, subject="s", sla_due_at=now, csat_score=score)
    for tool in ("get_order_details", "exchange_delivered_order_items", "modify_pending_order_address"):
        ToolCallLog.objects.create(customer=customer, tool=tool, ok=True)
    log_in(page, lead)
    page.goto("/admin/tickets/ticket/dashboard/")
    screenshot(page, "dashboard", full_page=True)

    definition = page.locator("#resolution-definition")
    expect(definition).to_be_visible()
    expect(definition).to_contain_text("no thumbs-down")
    # 8 conversations: one disliked, one handed to a person; the other six were answered and left.
    expect(page.locator("#kpi-automated")).to_contain_text("75.0%")
    figure = box(page.locator("#kpi-automated dd").first)
    assert abs(box(definition)["x"] - figure["x"]) < 40 and box(definition)["y"] - figure["y"] < 120
    for chart in page.locator("svg[role=img]").all():
        frame = box(chart)
        for label in chart.locator("text").all():
            text = box(label)
            assert text["x"] >= frame["x"] - 1, f"label {label.text_content()!r} cut off on the left"
            assert text["x"] + text["width"] <= frame["x"] + frame["width"] + 40, (
                f"label {label.text_content()!r} cut off"
            )
    for table in page.locator(".dash-section table").all():
        assert not table.is_visible(), "the data tables start folded"
    assert page.locator(".dash-section details").count() == 4
    visible = page.locator("#content-main").inner_text()
    assert "Track order" in visible and "Return items" in visible
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", visible), re.findall(r"\b[a-z]+_[a-z_]+\b", visible)
    assert_accessible(page)

    page.locator(".dash-section details summary").nth(2).click()
    expect(page.locator(".dash-section table").nth(2)).to_be_visible()
    expect(page.locator(".dash-section table").nth(2)).to_contain_text("Ask for a person")
