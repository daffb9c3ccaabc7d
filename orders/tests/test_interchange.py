"""import_shop / export_shop: round trip on the shared sample, idempotence, malformed files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from orders import services
from orders.models import Customer, Order, OrderItem, PaymentMethod, PaymentTransaction, Product, Variant

pytestmark = pytest.mark.django_db

SAMPLE = Path(settings.BASE_DIR).parent / "shared" / "data" / "retail-shop"
needs_sample = pytest.mark.skipif(
    not (SAMPLE / "orders.json").is_file(),
    reason=f"the tau-bench retail sample is not at {SAMPLE} (../shared is absent in a clone outside the workspace)",
)


def load(directory: Path) -> tuple[dict, dict, dict]:
    return tuple(json.loads((directory / name).read_text()) for name in ("users.json", "products.json", "orders.json"))  # type: ignore[return-value]


def counts() -> tuple[int, ...]:
    return tuple(
        m.objects.count() for m in (Customer, PaymentMethod, Product, Variant, Order, OrderItem, PaymentTransaction)
    )


@needs_sample
def test_import_then_export_of_the_sample_gives_the_same_json_values(tmp_path):
    call_command("import_shop", str(SAMPLE), verbosity=0)
    assert counts()[:5] == (500, 695, 50, 591, 1000)
    call_command("export_shop", str(tmp_path), verbosity=0)
    assert load(tmp_path) == load(SAMPLE)


@needs_sample
def test_import_is_idempotent_and_keeps_later_changes_to_what_the_files_do_not_hold(tmp_path):
    call_command("import_shop", str(SAMPLE), verbosity=0)
    before = counts()
    handle = next(iter(load(SAMPLE)[0]))
    customer = Customer.objects.get(handle=handle)
    call_command("import_shop", str(SAMPLE), "--stock", "3", verbosity=0)
    assert counts() == before
    assert Customer.objects.get(handle=handle).pk == customer.pk
    assert set(Variant.objects.filter(stock_quantity__gt=0).values_list("stock_quantity", flat=True)) == {3}
    call_command("export_shop", str(tmp_path), verbosity=0)
    assert load(tmp_path) == load(SAMPLE)


@needs_sample
def test_a_service_change_shows_in_the_export_with_the_extra_keys(tmp_path):
    call_command("import_shop", str(SAMPLE), verbosity=0)
    _, _, orders = load(SAMPLE)
    order_id = next(oid for oid, o in orders.items() if o["status"] == "pending")
    services.order_cancel(order_id=order_id, reason="ordered by mistake")
    call_command("export_shop", str(tmp_path), verbosity=0)
    exported = load(tmp_path)[2][order_id]
    assert exported["status"] == "cancelled" and exported["cancel_reason"] == "ordered by mistake"
    assert exported["payment_history"][-1]["transaction_type"] == "refund"


def minimal_shop() -> tuple[dict, dict, dict]:
    address = {"address1": "1 A St", "address2": "", "city": "Reno", "country": "USA", "state": "NV", "zip": "89501"}
    users = {
        "ada_l_1": {
            "name": {"first_name": "Ada", "last_name": "L"},
            "address": address,
            "email": "ada@example.com",
            "payment_methods": {"gift_card_1": {"source": "gift_card", "balance": 10, "id": "gift_card_1"}},
            "orders": ["#W1"],
        }
    }
    products = {
        "p1": {
            "name": "Mug",
            "product_id": "p1",
            "variants": {
                "i1": {"item_id": "i1", "options": {"size": "L"}, "available": True, "price": 8.5},
                "i2": {"item_id": "i2", "options": {"size": "S"}, "available": False, "price": 7.25},
            },
        }
    }
    orders = {
        "#W1": {
            "order_id": "#W1",
            "user_id": "ada_l_1",
            "address": address,
            "items": [{"name": "Mug", "product_id": "p1", "item_id": "i1", "price": 8.5, "options": {"size": "L"}}],
            "fulfillments": [],
            "status": "pending",
            "payment_history": [{"transaction_type": "payment", "amount": 8.5, "payment_method_id": "gift_card_1"}],
        }
    }
    return users, products, orders


def write(directory: Path, users: dict, products: dict, orders: dict) -> Path:
    directory.mkdir(exist_ok=True)
    for name, data in (("users.json", users), ("products.json", products), ("orders.json", orders)):
        (directory / name).write_text(json.dumps(data))
    return directory


def test_small_shop_round_trip_with_extra_keys_and_stock_flag(tmp_path):
    users, products, orders = minimal_shop()
    orders["#W1"].update(
        status="exchange requested",
        exchange_items=["i1"],
        exchange_new_items=["i2"],
        exchange_payment_method_id="gift_card_1",
        exchange_price_difference=-1.25,
    )
    call_command("import_shop", str(write(tmp_path / "in", users, products, orders)), "--stock", "7", verbosity=0)
    assert Variant.objects.get(item_id="i1").stock_quantity == 7 and not Variant.objects.get(item_id="i2").available
    assert PaymentMethod.objects.get().balance == Decimal("10.00")
    call_command("export_shop", str(tmp_path / "out"), verbosity=0)
    assert load(tmp_path / "out") == (users, products, orders)


@pytest.mark.parametrize(
    ("file", "mutate", "expected"),
    [
        (
            "users.json",
            lambda u, p, o: u["ada_l_1"].pop("email"),
            "users.json, record 'ada_l_1', field 'email': is missing",
        ),
        (
            "users.json",
            lambda u, p, o: u["ada_l_1"]["payment_methods"]["gift_card_1"].update(balance="10"),
            "users.json, record 'ada_l_1', field 'payment_methods.gift_card_1.balance': must be int/float, not str",
        ),
        (
            "products.json",
            lambda u, p, o: p["p1"]["variants"]["i2"].update(price=-1),
            "products.json, record 'p1', field 'variants.i2.price': must not be negative",
        ),
        ("orders.json", lambda u, p, o: o["#W1"].update(status="lost"), "orders.json, record '#W1', field 'status'"),
        (
            "orders.json",
            lambda u, p, o: o["#W1"]["items"][0].update(item_id="i9"),
            "orders.json, record '#W1', field 'items[0].item_id'",
        ),
        (
            "orders.json",
            lambda u, p, o: o["#W1"]["payment_history"][0].update(payment_method_id="paypal_9"),
            "field 'payment_history[0].payment_method_id': is not a payment method of user 'ada_l_1'",
        ),
    ],
)
def test_a_malformed_file_is_rejected_naming_file_record_and_field_and_nothing_is_written(
    tmp_path, file, mutate, expected
):
    users, products, orders = minimal_shop()
    mutate(users, products, orders)
    directory = write(tmp_path / "bad", users, products, orders)
    with pytest.raises(CommandError) as error:
        call_command("import_shop", str(directory), verbosity=0)
    assert expected in str(error.value) and "Nothing was imported" in str(error.value)
    assert counts() == (0,) * 7


def test_invalid_json_and_missing_files_are_named(tmp_path):
    users, products, orders = minimal_shop()
    directory = write(tmp_path / "bad", users, products, orders)
    (directory / "orders.json").write_text("{not json")
    with pytest.raises(CommandError, match="orders.json: not valid JSON"):
        call_command("import_shop", str(directory), verbosity=0)
    (directory / "products.json").unlink()
    with pytest.raises(CommandError, match="products.json: file not found"):
        call_command("import_shop", str(directory), verbosity=0)
    assert counts() == (0,) * 7
