"""End to end with a real Celery worker: signed webhook → task → chat_turn → Graph API.

The worker is its own process on the real broker, so it learns the fake Graph API's, the
scripted LLM's and the SMTP server's addresses from its environment (start_worker's
extra_env). Any other worker on this broker (the session `celery_worker`) is paused for the
module, or it would take these tasks and post them nowhere.
"""

from __future__ import annotations

import email
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from assistant.tests.llm_server import ScriptedLLM
from chat.models import PendingAction, ToolCallLog
from conftest import free_port, start_worker, stop_worker
from orders.models import Order
from orders.tests.factories import PaymentMethodFactory, VariantFactory, make_order
from whatsapp.models import InboundEvent, OutboundMessage, WhatsAppContact
from whatsapp.tests.conftest import (
    ACCESS_TOKEN,
    PHONE_NUMBER_ID,
    button_message,
    linked_contact,
    make_account,
    notification,
    post_webhook,
    text_message,
    tool_results,
)

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_until(predicate: Callable[[], bool], timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def wa_worker(graph_server, django_db_setup, django_db_blocker) -> Iterator[dict[str, Any]]:
    from supportbot.celery import app

    llm = ScriptedLLM().start()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    others = [name for reply in (app.control.ping(timeout=0.5) or []) for name in reply]
    for queue in ("default", "email"):
        if others:
            app.control.cancel_consumer(queue, destination=others, reply=True)
    env = {
        "WHATSAPP_API_BASE_URL": graph_server.base_url,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "LLM_BASE_URL": llm.base_url,
        "LLM_MODEL": "scripted-test-model",
        "LLM_API_KEY": "test-key",
        "LLM_TIMEOUT": "10",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "SITE_URL": "https://support.cobalt.example",
    }
    with django_db_blocker.unblock():
        worker = start_worker(queues="default,email", extra_env=env)
    try:
        yield {"llm": llm, "inbox": inbox, "worker": worker}
    finally:
        stop_worker(worker)
        smtp.stop()
        llm.stop()
        for queue in ("default", "email"):
            if others:
                app.control.add_consumer(queue, destination=others, reply=True)


def test_order_tracking_and_a_button_cancel_delivered_twice_run_through_the_worker(client, graph, wa_worker, new_phone):
    llm = wa_worker["llm"]
    customer = make_account()
    payment = PaymentMethodFactory(customer=customer)
    shipped = make_order(
        customer=customer, variants=[VariantFactory()], payment_method=payment, status=Order.Status.PROCESSED
    )
    pending = make_order(customer=customer, variants=[VariantFactory()], payment_method=payment)
    phone = new_phone()
    linked_contact(customer, phone)

    llm.add(
        ScriptedLLM.calls(("track_order", {"order_id": shipped.order_id})),
        lambda body: ScriptedLLM.text(
            "Order **{order_id}** is {status}; {carrier} tracking {tracking}.".format(
                **tool_results(body)[0],
                carrier=tool_results(body)[0]["shipments"][0]["carrier"],
                tracking=tool_results(body)[0]["shipments"][0]["tracking_ids"][0],
            )
        ),
    )
    assert post_webhook(client, notification(messages=[text_message(phone, "Where is my order?")])).status_code == 200
    (tracking,) = graph.wait_for(1, timeout=120)
    assert tracking.text == f"Order *{shipped.order_id}* is processed; UPS tracking 123456789012."
    assert wait_until(lambda: OutboundMessage.objects.filter(status="sent").count() == 1)

    llm.add(
        ScriptedLLM.calls(("cancel_pending_order", {"order_id": pending.order_id, "reason": "ordered by mistake"})),
        ScriptedLLM.text("Shall I cancel it?"),
    )
    post_webhook(client, notification(messages=[text_message(phone, f"Cancel {pending.order_id}")]))
    card = graph.wait_for(2, timeout=120)[1]
    confirm = card.buttons[0]
    assert confirm["title"] == "Confirm"

    tap = button_message(phone, confirm["id"], "Confirm")
    first = post_webhook(client, notification(messages=[tap]))
    second = post_webhook(client, notification(messages=[tap]))
    assert (first.status_code, second.status_code) == (200, 200)

    done = graph.wait_for(3, timeout=120)[2]
    assert done.text.startswith("Done — ")
    assert wait_until(lambda: InboundEvent.objects.filter(state="received").count() == 0)
    time.sleep(1.0)  # room for a wrongly repeated execution to show up
    pending.refresh_from_db()
    assert pending.status == Order.Status.CANCELLED
    assert PendingAction.objects.get().status == PendingAction.Status.CONFIRMED
    assert ToolCallLog.objects.filter(tool="cancel_pending_order", source="confirmation").count() == 1
    assert len(graph.delivered()) == 3


def test_the_code_link_flow_through_the_worker_and_real_smtp(client, graph, wa_worker, new_phone):
    customer = make_account()
    phone = new_phone()
    inbox = wa_worker["inbox"]
    inbox.messages.clear()

    post_webhook(client, notification(messages=[text_message(phone, f"link {customer.email}")]))

    assert wait_until(lambda: len(inbox.messages) == 1)
    mail = inbox.messages[0]
    assert mail["To"] == customer.email
    code = re.search(r"^\s+(\d{6})\s*$", mail.get_payload(decode=True).decode(), re.MULTILINE).group(1)
    assert "We've emailed a code to" in graph.wait_for(1, timeout=120)[0].text

    post_webhook(client, notification(messages=[text_message(phone, code)]))

    assert "now linked" in graph.wait_for(2, timeout=120)[1].text
    contact = WhatsAppContact.objects.get(phone=phone)
    assert contact.is_verified and contact.customer_id == customer.pk


def test_a_failing_graph_api_is_retried_with_backoff_until_it_accepts(client, graph, wa_worker, new_phone):
    phone = new_phone()
    contact = linked_contact(make_account(), phone)
    graph.fail_next(2, status=503)
    from whatsapp.services import outbound_queue_text

    started = time.monotonic()
    outbound_queue_text(contact=contact, text="Your refund was issued.")  # committed: enqueues delivery

    (sent,) = graph.wait_for(1, timeout=60)
    elapsed = time.monotonic() - started
    assert sent.text == "Your refund was issued."
    assert wait_until(lambda: OutboundMessage.objects.get().status == "sent")
    message = OutboundMessage.objects.get()
    assert message.attempts == 3 and message.last_error == ""
    assert [request.status for request in graph.requests] == [503, 503, 200]
    assert elapsed >= 2 + 4 - 0.5  # backoff 2 s, then 4 s
