"""Fixtures for the WhatsApp channel: a fake Graph API, signed webhook posts, linked numbers.

The Graph API is a real HTTP server on 127.0.0.1 (whatsapp.fake_graph). In-process tests point
the settings at it; the worker tests start their own Celery worker with its address in the
environment (see `wa_worker`), since a worker process can't see this process's settings.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from orders.models import Customer
from orders.tests.factories import CustomerFactory
from whatsapp.fake_graph import FakeGraphAPI
from whatsapp.models import WhatsAppContact

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
ACCESS_TOKEN = "test-access-token"
PHONE_NUMBER_ID = "109876543210"
_clock = itertools.count(int(time.time()))


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def notification(
    *, messages: list[dict[str, Any]] = (), statuses: list[dict[str, Any]] = (), name: str = "Sam"
) -> dict[str, Any]:
    """A webhook body as Meta sends it (one entry, one change)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": PHONE_NUMBER_ID},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": message["from"]} for message in messages]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA_ID", "changes": [{"value": value, "field": "messages"}]}],
    }


def text_message(phone: str, body: str, *, wamid: str | None = None, timestamp: int | None = None) -> dict[str, Any]:
    return {
        "from": phone,
        "id": wamid or f"wamid.in.{uuid.uuid4().hex}",
        "timestamp": str(timestamp or next(_clock)),
        "type": "text",
        "text": {"body": body},
    }


def button_message(phone: str, button_id: str, title: str, *, wamid: str | None = None) -> dict[str, Any]:
    return {
        "from": phone,
        "id": wamid or f"wamid.in.{uuid.uuid4().hex}",
        "timestamp": str(next(_clock)),
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": button_id, "title": title}},
    }


def status_callback(
    wamid: str, status: str, phone: str, *, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    callback: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(next(_clock)), "recipient_id": phone}
    if errors:
        callback["errors"] = errors
    return callback


def post_webhook(client: Client, payload: dict[str, Any], *, signature: str | None = None) -> Any:
    body = json.dumps(payload).encode()
    headers = {} if signature == "" else {"HTTP_X_HUB_SIGNATURE_256": signature or sign(body)}
    return client.post("/whatsapp/webhook", data=body, content_type="application/json", **headers)


@pytest.fixture(scope="session")
def graph_server() -> Iterator[FakeGraphAPI]:
    server = FakeGraphAPI(token=ACCESS_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def graph(graph_server: FakeGraphAPI, settings: Any) -> Iterator[FakeGraphAPI]:
    """The fake Graph API, emptied, with this process's settings pointing at it."""
    graph_server.reset()
    settings.WHATSAPP_API_BASE_URL = graph_server.base_url
    settings.WHATSAPP_PHONE_NUMBER_ID = PHONE_NUMBER_ID
    settings.WHATSAPP_ACCESS_TOKEN = ACCESS_TOKEN
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = VERIFY_TOKEN
    settings.WHATSAPP_SESSION_WINDOW_HOURS = 24
    settings.SITE_URL = "https://support.cobalt.example"
    yield graph_server
    graph_server.reset()


def make_account(**fields: Any) -> Customer:
    """A customer with a portal login (linking needs an account)."""
    customer = CustomerFactory(**fields)
    user = get_user_model().objects.create_user(
        username=customer.email, email=customer.email, password="whatsapp-test-pass-1", first_name=customer.first_name
    )
    customer.user = user
    customer.save(update_fields=["user"])
    return customer


@pytest.fixture
def new_phone() -> Callable[[], str]:
    numbers = itertools.count(15550100000 + int(uuid.uuid4().int % 10_000) * 100)
    return lambda: str(next(numbers))


def linked_contact(customer: Customer, phone: str) -> WhatsAppContact:
    """A number already verified for `customer` (as after the code flow)."""
    from whatsapp.services import contact_for_phone, contact_link

    contact = contact_for_phone(phone=phone, profile_name=customer.first_name)
    return contact_link(contact_id=contact.pk, customer=customer)


@pytest.fixture
def llm(settings: Any) -> Iterator[Any]:
    """The shared scripted LLM (root conftest), with this suite's timeout and retry budget."""
    from conftest import scripted_llm

    with scripted_llm(settings, timeout=5.0, retry_budget=3.0) as server:
        yield server


def run_webhook(client: Client, payload: dict[str, Any], *, deliver: bool = True) -> Any:
    """In-process: post the webhook, then do what the tasks would — process, then deliver.

    (Non-transactional tests never commit, so nothing reaches the broker; the worker tests in
    test_worker.py run the same path through a real Celery worker.)
    """
    from whatsapp.models import InboundEvent, OutboundMessage
    from whatsapp.services import inbound_event_process, outbound_deliver_pending

    response = post_webhook(client, payload)
    assert response.status_code == 200, response.content
    for event_id in (
        InboundEvent.objects.filter(state=InboundEvent.State.RECEIVED).order_by("id").values_list("pk", flat=True)
    ):
        inbound_event_process(event_id=event_id)
    if deliver:
        queued = OutboundMessage.objects.filter(status=OutboundMessage.Status.QUEUED)
        for contact_id in sorted(set(queued.values_list("contact_id", flat=True))):
            outbound_deliver_pending(contact_id=contact_id, final_attempt=False)
    return response


def tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(message["content"]) for message in request["messages"] if message["role"] == "tool"]
