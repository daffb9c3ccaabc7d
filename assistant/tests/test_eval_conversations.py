"""`manage.py eval_conversations`: the suite format's validation, the checks, isolation, the exit code, both brains."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from assistant.tests.llm_server import ScriptedLLM
from chat.models import Conversation, PendingAction
from chat.tests.conftest import make_customer
from orders.models import Customer, Order
from orders.tests.factories import PaymentMethodFactory, ProductFactory, VariantFactory, make_order
from orders.tests.test_interchange import minimal_shop, write
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def offline(settings: Any) -> None:
    settings.LLM_BASE_URL = ""
    settings.LLM_MODEL = ""


@pytest.fixture
def shop(offline: None) -> dict[str, Any]:
    """A signed-up customer with a pending order, and another customer's pending order."""
    customer = make_customer(first_name="Maya", last_name="Lopez")
    card = PaymentMethodFactory(customer=customer, brand="visa", last_four="4242")
    kettle = VariantFactory(product=ProductFactory(name="Electric Kettle"), options={"color": "steel"})
    order = make_order(customer=customer, variants=[kettle], payment_method=card)
    other = make_customer(first_name="Olaf", last_name="Berg")
    foreign = make_order(customer=other, variants=[kettle], payment_method=PaymentMethodFactory(customer=other))
    return {"customer": customer, "order": order.order_id, "foreign": foreign.order_id}


def suite(tmp_path: Path, *conversations: dict[str, Any] | str) -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_text(
        "\n".join(item if isinstance(item, str) else json.dumps(item) for item in conversations) + "\n",
        encoding="utf-8",
    )
    return path


def run(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("eval_conversations", str(path), *args, verbosity=0, stdout=out)
    return out.getvalue()


def cancellation(shop: dict[str, Any], *, id: str = "cancel", confirm: bool = True) -> dict[str, Any]:  # noqa: A002
    return {
        "id": id,
        "customer": shop["customer"].email,
        "turns": [
            {
                "say": f"hi, i need to cancel {shop['order']}, ordered it by mistake",
                "expect": {
                    "intent": "cancel_order",
                    "calls": ["get_order_details"],
                    "proposes": {
                        "name": "cancel_pending_order",
                        "arguments": {"order_id": shop["order"], "reason": "ordered by mistake"},
                    },
                },
            },
            {"confirm": True, "expect": {"executes": "cancel_pending_order", "says": ["cancelled"]}}
            if confirm
            else {"decline": True, "expect": {"executes_nothing": True, "says": ["nothing was changed"]}},
        ],
        "end": {"orders": {shop["order"]: {"status": "cancelled" if confirm else "pending"}}},
    }


def test_a_passing_and_a_failing_conversation_report_the_first_failing_check(shop, tmp_path):
    failing = {
        "id": "wrong-expectations",
        "customer": shop["customer"].email,
        "turns": [
            {"say": f"cancel {shop['order']}, ordered it by mistake", "expect": {"no_proposal": True, "says": ["x"]}}
        ],
    }
    out = StringIO()
    call_command("eval_conversations", str(suite(tmp_path, cancellation(shop), failing)), "--verbose", stdout=out)

    lines = out.getvalue().splitlines()
    assert "PASS cancel" in lines
    failure = next(line for line in lines if line.startswith("FAIL wrong-expectations"))
    assert failure == "FAIL wrong-expectations: turn 1 (say): no_proposal — proposed cancel_pending_order"
    assert f"  customer> cancel {shop['order']}, ordered it by mistake" in lines  # --verbose: the transcript
    assert lines[-1] == "1/2 conversations passed (0.50)"


def test_each_conversation_starts_from_the_same_store(shop, tmp_path):
    declined_after_a_cancellation = cancellation(shop, id="decline", confirm=False)

    out = run(suite(tmp_path, cancellation(shop), declined_after_a_cancellation))

    # The second conversation found the order pending again (its card proposed the cancellation
    # and its end check saw "pending"), and the eval left nothing behind.
    assert "PASS cancel\nPASS decline\n2/2 conversations passed (1.00)" in out
    assert Order.objects.get(order_id=shop["order"]).status == Order.Status.PENDING
    assert not Conversation.objects.exists() and not PendingAction.objects.exists()


def test_refusal_escalation_and_end_fields_are_checked(shop, tmp_path):
    refused = {
        "id": "someone-elses-order",
        "customer": shop["customer"].email,
        "turns": [{"say": f"cancel order {shop['foreign']} please", "expect": {"no_proposal": True}}],
        "end": {"orders": {shop["foreign"]: {"status": "pending"}}},
    }
    person = {
        "id": "person",
        "customer": shop["customer"].email,
        "turns": [{"say": "i want to talk to a person", "expect": {"escalates": True, "executes_nothing": True}}],
    }
    not_cancelled = {
        **cancellation(shop, id="end-differs", confirm=False),
        "end": {"orders": {shop["order"]: {"status": "cancelled"}}},
    }

    out = run(suite(tmp_path, refused, person, not_cancelled))

    assert "PASS someone-elses-order" in out and "PASS person" in out
    assert f'FAIL end-differs: end: order {shop["order"]} status is "pending", expected "cancelled"' in out
    assert not Ticket.objects.exists()


def test_min_pass_sets_the_exit_status(shop, tmp_path):
    failing = {
        "id": "f",
        "customer": shop["customer"].email,
        "turns": [{"say": "hello", "expect": {"escalates": True}}],
    }
    path = suite(tmp_path, cancellation(shop), failing)

    assert "1/2 conversations passed (0.50)" in run(path, "--min-pass", "0.5")
    with pytest.raises(CommandError, match=r"pass rate 0.50 is below --min-pass 0.60") as raised:
        run(path, "--min-pass", "0.6")
    assert raised.value.returncode == 1


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"id": "a", "customer": "x@example.com", "turns": [{"say": "hi"}], "tags": []}', "unknown key 'tags'"),
        (
            '{"id": "a", "customer": "x@example.com", "turns": [{"say": "hi", "expect": {"replies": ["x"]}}]}',
            "unknown key 'replies' in turn 1's expect",
        ),
        ('{"id": "a", "customer": "x@example.com", "turns": [{"shout": "hi"}]}', "unknown key 'shout' in turn 1"),
        ('{"id": "a", "customer": "x@example.com", "turns": [{"say": "hi"}', "not valid JSON"),
        ('{"id": "a", "turns": [{"say": "hi"}]}', "'customer' is missing"),
        (
            '{"id": "a", "customer": "x@example.com", "turns": [{"say": "hi", "expect": {"executes": "launch"}}]}',
            "names an unknown tool 'launch'",
        ),
        ('{"id": "a", "customer": "nobody@example.com", "turns": [{"say": "hi"}]}', "no customer with email"),
        (
            '{"id": "a", "customer": "x@example.com", "turns": [{"say": "hi"}], "end": {"orders": {"#W0000001": {"status": "pending"}}}}',
            "order '#W0000001' in 'end' is not in the store",
        ),
    ],
)
def test_a_malformed_suite_is_refused_naming_the_line_before_anything_runs(offline, tmp_path, bad_line, message):
    customer = make_customer(email="x@example.com")
    good = {"id": "good", "customer": customer.email, "turns": [{"say": "i want to talk to a person"}]}

    with pytest.raises(CommandError, match=f"Nothing was run: line 3: .*{message}"):
        run(suite(tmp_path, good, "", bad_line))

    assert not Conversation.objects.exists()


def test_shop_is_imported_and_its_customers_chat_with_a_login(offline, tmp_path):
    users, products, orders = minimal_shop()
    order = orders.pop("#W1")
    orders["#W1000001"] = {**order, "order_id": "#W1000001"}
    users["ada_l_1"]["orders"] = ["#W1000001"]
    conversation = {
        "id": "imported",
        "customer": "ada@example.com",
        "turns": [
            {"say": "please cancel #W1000001, ordered it by mistake"},
            {"confirm": True, "expect": {"executes": "cancel_pending_order"}},
        ],
        "end": {"orders": {"#W1000001": {"status": "cancelled"}}},
    }

    out = run(suite(tmp_path, conversation), "--shop", str(write(tmp_path / "shop", users, products, orders)))

    assert "1/1 conversations passed (1.00)" in out
    # The store stays imported; the conversation (and the login it needed) was rolled back.
    assert Order.objects.get(order_id="#W1000001").status == Order.Status.PENDING
    assert Customer.objects.get(email="ada@example.com").user is None
    assert not get_user_model().objects.filter(username="ada@example.com").exists()


def test_on_the_llm_the_intent_is_not_compared(llm, tmp_path):
    customer = make_customer()
    card = PaymentMethodFactory(customer=customer)
    order = make_order(customer=customer, variants=[VariantFactory()], payment_method=card)
    llm.add(
        ScriptedLLM.calls(("cancel_pending_order", {"order_id": order.order_id, "reason": "no longer needed"})),
        ScriptedLLM.text("I can cancel it — please confirm."),
    )
    conversation = {
        "id": "llm-cancel",
        "customer": customer.email,
        "turns": [
            {
                "say": f"cancel {order.order_id}, don't need it",
                "expect": {
                    "intent": "cancel_order",
                    "says": ["please confirm"],
                    "proposes": {"name": "cancel_pending_order", "arguments": {"order_id": order.order_id}},
                },
            },
            {"confirm": True, "expect": {"executes": "cancel_pending_order"}},
        ],
        "end": {"orders": {order.order_id: {"status": "cancelled"}}},
    }

    out = run(suite(tmp_path, conversation))

    assert "on the LLM (scripted-test-model)" in out
    assert "PASS llm-cancel" in out and "1/1 conversations passed (1.00)" in out
    assert len(llm.requests) == 2
