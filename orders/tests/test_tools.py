"""The store tools: names and schemas, identity enforcement, confirmations, calculate, call_tools."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assistant.tools import ToolContext, call_tool, get_tool
from assistant.tools.store import calculate_expression
from orders.models import Order, PaymentMethod, PaymentTransaction
from orders.selectors import order_details
from orders.tests.factories import CustomerFactory, PaymentMethodFactory, ProductFactory, VariantFactory, make_order

pytestmark = pytest.mark.django_db

EXPECTED = {
    "cancel_pending_order": ["order_id", "reason"],
    "modify_pending_order_address": ["order_id", "address1", "address2", "city", "state", "country", "zip"],
    "modify_pending_order_payment": ["order_id", "payment_method_id"],
    "modify_pending_order_items": ["order_id", "item_ids", "new_item_ids", "payment_method_id"],
    "return_delivered_order_items": ["order_id", "item_ids", "payment_method_id"],
    "exchange_delivered_order_items": ["order_id", "item_ids", "new_item_ids", "payment_method_id"],
    "modify_user_address": ["user_id", "address1", "address2", "city", "state", "country", "zip"],
    "get_order_details": ["order_id"],
    "get_product_details": ["product_id"],
    "get_user_details": ["user_id"],
    "list_all_product_types": [],
    "find_user_id_by_email": ["email"],
    "find_user_id_by_name_zip": ["first_name", "last_name", "zip"],
    "calculate": ["expression"],
    "transfer_to_human_agents": ["summary"],
}
CONSEQUENTIAL = {name for name in EXPECTED if not name.startswith(("get_", "list_", "find_", "calculate", "transfer"))}
ADDRESS = {"address1": "9 Elm St", "address2": "", "city": "Boston", "state": "MA", "country": "USA", "zip": "02101"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_tool_has_the_tau_bench_name_arguments_and_flag(name):
    tool = get_tool(name)
    assert tool is not None
    assert list(tool.parameters["properties"]) == EXPECTED[name]
    assert tool.parameters["required"] == EXPECTED[name]
    assert tool.consequential is (name in CONSEQUENTIAL)
    assert (tool.describe is not None) is (name in CONSEQUENTIAL)
    assert tool.openai_schema()["function"]["name"] == name


@pytest.fixture
def two_customers():
    alice, bob = CustomerFactory(first_name="Alice"), CustomerFactory(first_name="Bob")
    alice_gift = PaymentMethodFactory(customer=alice, source=PaymentMethod.Source.GIFT_CARD, balance=Decimal("5.00"))
    bob_card = PaymentMethodFactory(customer=bob)
    lamp = ProductFactory(name="Desk Lamp")
    warm = VariantFactory(product=lamp, price=Decimal("19.99"))
    cold = VariantFactory(product=lamp, price=Decimal("24.01"))
    alice_order = make_order(customer=alice, variants=[warm, warm], payment_method=alice_gift)
    bob_order = make_order(customer=bob, variants=[warm], payment_method=bob_card, status="delivered")
    return type(
        "T",
        (),
        dict(
            alice=alice,
            bob=bob,
            alice_gift=alice_gift,
            bob_card=bob_card,
            warm=warm,
            cold=cold,
            alice_order=alice_order,
            bob_order=bob_order,
        ),
    )


def test_a_customer_cannot_reach_another_customers_records_and_the_refusal_looks_like_not_found(two_customers):
    t = two_customers
    as_alice = ToolContext(customer=t.alice)
    foreign = call_tool("get_order_details", {"order_id": t.bob_order.order_id}, context=as_alice)
    missing = call_tool("get_order_details", {"order_id": "#W0000000"}, context=as_alice)
    assert not foreign.ok and foreign.error["code"] == missing.error["code"] == "not_found"
    attempts = [
        ("cancel_pending_order", {"order_id": t.bob_order.order_id, "reason": "no longer needed"}),
        (
            "return_delivered_order_items",
            {
                "order_id": t.bob_order.order_id,
                "item_ids": [t.warm.item_id],
                "payment_method_id": t.bob_card.payment_method_id,
            },
        ),
        ("modify_pending_order_address", {"order_id": t.bob_order.order_id, **ADDRESS}),
        ("modify_user_address", {"user_id": t.bob.handle, **ADDRESS}),
        ("get_user_details", {"user_id": t.bob.handle}),
        ("find_user_id_by_email", {"email": t.bob.email}),
        ("find_user_id_by_name_zip", {"first_name": "Bob", "last_name": t.bob.last_name, "zip": t.bob.zip}),
        # Alice's own order paid with Bob's card: the payment method isn't hers.
        (
            "modify_pending_order_payment",
            {"order_id": t.alice_order.order_id, "payment_method_id": t.bob_card.payment_method_id},
        ),
    ]
    for name, arguments in attempts:
        outcome = call_tool(name, arguments, context=as_alice)
        assert not outcome.ok and outcome.error["code"] == "not_found", name
    t.bob_order.refresh_from_db()
    t.bob.refresh_from_db()
    assert t.bob_order.status == "delivered" and t.bob.city == "Austin"
    assert (
        call_tool("find_user_id_by_email", {"email": t.alice.email.upper()}, context=as_alice).result == t.alice.handle
    )


def test_an_operator_without_a_customer_may_act_on_any_record(two_customers):
    t = two_customers
    operator = ToolContext(customer=None)
    assert call_tool("find_user_id_by_email", {"email": t.bob.email}, context=operator).result == t.bob.handle
    outcome = call_tool(
        "return_delivered_order_items",
        {
            "order_id": t.bob_order.order_id,
            "item_ids": [t.warm.item_id],
            "payment_method_id": t.bob_card.payment_method_id,
        },
        context=operator,
    )
    assert outcome.ok and outcome.result == order_details(t.bob_order.order_id)
    assert outcome.result["status"] == "return requested"


def test_read_tools_return_the_export_shape(two_customers):
    t = two_customers
    as_alice = ToolContext(customer=t.alice)
    assert call_tool(
        "get_order_details", {"order_id": t.alice_order.order_id}, context=as_alice
    ).result == order_details(t.alice_order.order_id)
    product = call_tool("get_product_details", {"product_id": t.warm.product.product_id}, context=as_alice).result
    assert set(product["variants"]) == {t.warm.item_id, t.cold.item_id}
    assert call_tool("list_all_product_types", {}, context=as_alice).result == {"Desk Lamp": t.warm.product.product_id}
    assert call_tool("get_user_details", {"user_id": t.alice.handle}, context=as_alice).result["orders"] == [
        t.alice_order.order_id
    ]


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({}, "Missing required argument(s): order_id, reason"),
        ({"order_id": 42, "reason": "no longer needed"}, "'order_id' must be of type string"),
        ({"order_id": "#W1", "reason": "bored"}, "must be one of"),
        ({"order_id": "#W1", "reason": "no longer needed", "force": True}, "Unknown argument"),
        ("{not json", "not valid JSON"),
    ],
)
def test_bad_arguments_give_a_structured_error_not_an_exception(two_customers, arguments, fragment):
    outcome = call_tool("cancel_pending_order", arguments, context=ToolContext(customer=two_customers.alice))
    assert not outcome.ok and outcome.error["code"] == "invalid_input" and fragment in outcome.error["message"]


def test_cancel_confirmation_text_names_items_total_reason_and_refund(two_customers):
    t = two_customers
    describe = get_tool("cancel_pending_order").describe
    text = describe(ToolContext(customer=t.alice), order_id=t.alice_order.order_id, reason="no longer needed")
    assert text == (
        f"Cancel order {t.alice_order.order_id} — 2 items, $39.98, reason: no longer needed; "
        f"refund $39.98 to your {t.alice_gift.label} right away"
    )
    # Someone else's or an unknown order: a generic sentence, never an exception or a leak.
    fallback = describe(ToolContext(customer=t.alice), order_id=t.bob_order.order_id, reason="no longer needed")
    assert fallback == f"Cancel order {t.bob_order.order_id} and refund its payments."


def test_other_confirmation_texts(two_customers):
    t = two_customers
    as_alice = ToolContext(customer=t.alice)
    swap = get_tool("modify_pending_order_items").describe(
        as_alice,
        order_id=t.alice_order.order_id,
        item_ids=[t.warm.item_id],
        new_item_ids=[t.cold.item_id],
        payment_method_id=t.alice_gift.payment_method_id,
    )
    assert "price difference of $4.02 is charged to your gift card" in swap and "can't be changed again" in swap
    address = get_tool("modify_user_address").describe(as_alice, user_id=t.alice.handle, **ADDRESS)
    assert address == "Change your default address to 9 Elm St, Boston, MA 02101, USA"
    for name in CONSEQUENTIAL:  # nonsense arguments still give a sentence
        assert get_tool(name).describe(as_alice, order_id="#nope", user_id="nobody")


def test_a_swap_card_says_which_item_stays_as_it_is_and_prices_only_the_real_changes(two_customers):
    t = two_customers

    def lamp(variant):
        return f"Desk Lamp ({', '.join(variant.options.values())})"

    change = get_tool("modify_pending_order_items").describe(
        ToolContext(customer=t.alice),
        order_id=t.alice_order.order_id,
        item_ids=[t.warm.item_id, t.warm.item_id],
        new_item_ids=[t.warm.item_id, t.cold.item_id],
        payment_method_id=t.alice_gift.payment_method_id,
    )
    assert change == (
        f"Change in order {t.alice_order.order_id}: {lamp(t.warm)} — stays as it is; "
        f"{lamp(t.warm)} → {lamp(t.cold)}, ${t.cold.price:.2f}; "
        f"the price difference of $4.02 is charged to your {t.alice_gift.label} "
        "— the order can't be changed again afterwards"
    )
    exchange = get_tool("exchange_delivered_order_items").describe(
        ToolContext(customer=t.bob),
        order_id=t.bob_order.order_id,
        item_ids=[t.warm.item_id],
        new_item_ids=[t.warm.item_id],
        payment_method_id=t.bob_card.payment_method_id,
    )
    assert exchange == (
        f"Exchange in order {t.bob_order.order_id}: {lamp(t.warm)} — stays as it is; "
        "no price difference; we'll email return instructions"
    )


def test_self_service_refund_limit_through_the_tools(two_customers, settings):
    settings.ORDERS_SELF_SERVICE_REFUND_LIMIT = 0
    t = two_customers
    outcome = call_tool(
        "cancel_pending_order",
        {"order_id": t.alice_order.order_id, "reason": "no longer needed"},
        context=ToolContext(customer=t.alice),
    )
    assert not outcome.ok and outcome.error["code"] == "refund_limit"
    assert call_tool(
        "cancel_pending_order",
        {"order_id": t.alice_order.order_id, "reason": "no longer needed"},
        context=ToolContext(customer=None),
    ).ok


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("2 + 3 * 4", 14.0),
        ("(2 + 3) * 4", 20.0),
        ("-(1.005 + 1)", -2.0),
        ("10 / 3", 3.33),
        ("536.65 - 47.84", 488.81),
        ("2/3", 0.67),
        ("+5", 5.0),
    ],
)
def test_calculate(expression, value):
    assert calculate_expression(expression) == value


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("2 ** 8", "only numbers"),
        ("__import__('os').system('true')", "only numbers"),
        ("1 / 0", "divides by zero"),
        ("2 +", "not a valid"),
        ("x + 1", "only numbers"),
        ("True + 1", "only numbers"),
        ("1e300 * 1e300", "too large"),
    ],
)
def test_calculate_refuses_anything_but_arithmetic(expression, fragment):
    outcome = call_tool("calculate", {"expression": expression}, context=ToolContext(customer=None))
    assert not outcome.ok and outcome.error["code"] == "invalid_input" and fragment in outcome.error["message"]


# --- call_tools ---------------------------------------------------------------------------


def run_call_tools(lines, *args):
    path_stdin = io.StringIO(
        "\n".join(json.dumps(line) if not isinstance(line, str) else line for line in lines) + "\n"
    )
    out = io.StringIO()
    import sys

    real_stdin, sys.stdin = sys.stdin, path_stdin
    try:
        call_command("call_tools", "-", *args, stdout=out)
    finally:
        sys.stdin = real_stdin
    return [json.loads(line) for line in out.getvalue().splitlines()]


def snapshot():
    return (
        list(Order.objects.order_by("id").values_list("order_id", "status", "address1", "cancel_reason")),
        list(PaymentTransaction.objects.order_by("id").values_list("transaction_type", "amount")),
        list(PaymentMethod.objects.order_by("id").values_list("balance", flat=True)),
    )


def test_call_tools_dry_run_leaves_the_database_unchanged_and_exports_each_scenario(two_customers, tmp_path):
    t = two_customers
    before = snapshot()
    results = run_call_tools(
        [
            {"scenario": "cancel"},
            {
                "name": "cancel_pending_order",
                "arguments": {"order_id": t.alice_order.order_id, "reason": "ordered by mistake"},
            },
            {"name": "get_order_details", "arguments": {"order_id": t.alice_order.order_id}},
            {"scenario": "address"},
            {"name": "modify_pending_order_address", "arguments": {"order_id": t.alice_order.order_id, **ADDRESS}},
            "not json",
            {"name": "no_such_tool", "arguments": {}},
        ],
        "--dry-run",
        "--export",
        str(tmp_path),
    )
    assert [r["ok"] for r in results] == [True, True, True, False, False]
    assert results[1]["result"]["status"] == "cancelled"
    assert results[3]["error"]["code"] == "invalid_input" and results[4]["error"]["code"] == "unknown_tool"
    assert snapshot() == before
    cancelled = json.loads((tmp_path / "cancel" / "orders.json").read_text())[t.alice_order.order_id]
    moved = json.loads((tmp_path / "address" / "orders.json").read_text())[t.alice_order.order_id]
    # Each scenario starts from the untouched database: the second one sees a pending order.
    assert cancelled["status"] == "cancelled" and moved["status"] == "pending" and moved["address"]["city"] == "Boston"


def test_call_tools_without_dry_run_commits(two_customers):
    t = two_customers
    [result] = run_call_tools(
        [
            {
                "name": "cancel_pending_order",
                "arguments": {"order_id": t.alice_order.order_id, "reason": "no longer needed"},
            }
        ]
    )
    assert result["ok"]
    t.alice_order.refresh_from_db()
    assert t.alice_order.status == "cancelled"


def test_call_tools_as_user_refuses_other_customers_data(two_customers):
    t = two_customers
    results = run_call_tools(
        [
            {"name": "get_order_details", "arguments": {"order_id": t.bob_order.order_id}},
            {"name": "get_order_details", "arguments": {"order_id": t.alice_order.order_id}},
        ],
        "--as-user",
        t.alice.handle,
    )
    assert [r["ok"] for r in results] == [False, True]
    assert results[0] == {"name": "get_order_details", "ok": False, "error": results[0]["error"]}
    assert results[0]["error"]["code"] == "not_found"
    with pytest.raises(CommandError, match="no customer with handle"):
        run_call_tools([], "--as-user", "nobody_0")
