"""Import and export of the store in the tau-bench retail format (users/products/orders.json).

`shop_read` parses and validates the three files completely before anything is written, and
names the file, record and field of the first problem. `shop_import` upserts by public id in
one transaction with bulk statements (a few dozen queries for the whole sample), so running it
twice gives the same store. `shop_export` writes the files back in the same shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import connection, transaction

from orders import selectors
from orders.models import Customer, Fulfillment, Order, OrderItem, PaymentMethod, PaymentTransaction, Product, Variant
from orders.notifications.restock import restocks_detect
from orders.services import money

FILES = ("users.json", "products.json", "orders.json")
ADDRESS_KEYS = ("address1", "address2", "city", "country", "state", "zip")


class ShopFormatError(ValueError):
    """A file of the shop does not have the expected shape."""

    def __init__(self, file: str, record: str | None, field: str | None, problem: str) -> None:
        where = file + (f", record {record!r}" if record is not None else "") + (f", field '{field}'" if field else "")
        super().__init__(f"{where}: {problem}")
        self.file, self.record, self.field = file, record, field


@dataclass
class ShopData:
    users: dict[str, Any]
    products: dict[str, Any]
    orders: dict[str, Any]

    @property
    def size(self) -> int:
        return len(self.users) + len(self.products) + len(self.orders)


class _Checker:
    """Field checks for one record; each failure names file, record and field."""

    def __init__(self, file: str, record: str) -> None:
        self.file, self.record = file, record

    def fail(self, field: str, problem: str) -> ShopFormatError:
        return ShopFormatError(self.file, self.record, field, problem)

    def get(self, data: Any, key: str, kind: type | tuple[type, ...], path: str = "") -> Any:
        field = f"{path}.{key}" if path else key
        if not isinstance(data, dict) or key not in data:
            raise self.fail(field, "is missing")
        value = data[key]
        if not isinstance(value, kind) or (kind in ((int, float), int) and isinstance(value, bool)):
            names = "/".join(t.__name__ for t in (kind if isinstance(kind, tuple) else (kind,)))
            raise self.fail(field, f"must be {names}, not {type(value).__name__}")
        return value

    def money(self, data: Any, key: str, path: str = "") -> Decimal:
        value = self.get(data, key, (int, float), path)
        if value < 0:
            raise self.fail(f"{path}.{key}" if path else key, "must not be negative")
        return money(value)

    def strings(self, data: Any, key: str, path: str = "") -> list[str]:
        values = self.get(data, key, list, path)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise self.fail(f"{path + '.' if path else ''}{key}[{index}]", "must be a string")
        return values

    def address(self, data: Any) -> dict[str, str]:
        block = self.get(data, "address", dict)
        return {key: self.get(block, key, str, "address") for key in ADDRESS_KEYS}


def _load(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    if not path.is_file():
        raise ShopFormatError(name, None, None, f"file not found in {directory}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShopFormatError(name, None, None, f"not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ShopFormatError(name, None, None, "must be a JSON object keyed by id")
    return data


def _check_user(handle: str, user: Any) -> None:
    check = _Checker("users.json", handle)
    name = check.get(user, "name", dict)
    check.get(name, "first_name", str, "name")
    check.get(name, "last_name", str, "name")
    check.address(user)
    check.get(user, "email", str)
    for method_id, method in check.get(user, "payment_methods", dict).items():
        path = f"payment_methods.{method_id}"
        if check.get(method, "id", str, path) != method_id:
            raise check.fail(f"{path}.id", "must equal its key")
        source = check.get(method, "source", str, path)
        if source not in PaymentMethod.Source.values:
            raise check.fail(f"{path}.source", f"must be one of {', '.join(PaymentMethod.Source.values)}")
        if source == "credit_card":
            check.get(method, "brand", str, path)
            check.get(method, "last_four", str, path)
        if source == "gift_card":
            check.money(method, "balance", path)
    check.strings(user, "orders")


def _check_product(product_id: str, product: Any) -> None:
    check = _Checker("products.json", product_id)
    check.get(product, "name", str)
    if check.get(product, "product_id", str) != product_id:
        raise check.fail("product_id", "must equal its key")
    for item_id, variant in check.get(product, "variants", dict).items():
        path = f"variants.{item_id}"
        if check.get(variant, "item_id", str, path) != item_id:
            raise check.fail(f"{path}.item_id", "must equal its key")
        check.get(variant, "options", dict, path)
        check.get(variant, "available", bool, path)
        check.money(variant, "price", path)


def _check_order(order_id: str, order: Any, data: ShopData, known_items: dict[str, str]) -> None:
    check = _Checker("orders.json", order_id)
    if check.get(order, "order_id", str) != order_id:
        raise check.fail("order_id", "must equal its key")
    handle = check.get(order, "user_id", str)
    if handle not in data.users:
        raise check.fail("user_id", f"user {handle!r} is not in users.json")
    methods = data.users[handle]["payment_methods"]
    check.address(order)
    if check.get(order, "status", str) not in Order.Status.values:
        raise check.fail("status", f"must be one of: {', '.join(Order.Status.values)}")
    for index, item in enumerate(check.get(order, "items", list)):
        path = f"items[{index}]"
        check.get(item, "name", str, path)
        item_id = check.get(item, "item_id", str, path)
        if known_items.get(item_id) != check.get(item, "product_id", str, path):
            raise check.fail(
                f"{path}.item_id", f"item {item_id!r} of product {item.get('product_id')!r} is not in products.json"
            )
        check.money(item, "price", path)
        check.get(item, "options", dict, path)
    for index, fulfillment in enumerate(check.get(order, "fulfillments", list)):
        check.strings(fulfillment, "tracking_id", f"fulfillments[{index}]")
        check.strings(fulfillment, "item_ids", f"fulfillments[{index}]")
    for index, payment in enumerate(check.get(order, "payment_history", list)):
        path = f"payment_history[{index}]"
        if check.get(payment, "transaction_type", str, path) not in PaymentTransaction.Type.values:
            raise check.fail(f"{path}.transaction_type", "must be 'payment' or 'refund'")
        check.money(payment, "amount", path)
        if check.get(payment, "payment_method_id", str, path) not in methods:
            raise check.fail(f"{path}.payment_method_id", f"is not a payment method of user {handle!r}")
    if "cancel_reason" in order and order["cancel_reason"] not in Order.CancelReason.values:
        raise check.fail("cancel_reason", "must be 'no longer needed' or 'ordered by mistake'")
    for key in ("return_items", "exchange_items", "exchange_new_items"):
        if key in order:
            check.strings(order, key)
    for key in ("return_payment_method_id", "exchange_payment_method_id"):
        if key in order and check.get(order, key, str) not in methods:
            raise check.fail(key, f"is not a payment method of user {handle!r}")
    if "exchange_price_difference" in order:
        check.get(order, "exchange_price_difference", (int, float))


def shop_read(directory: Path) -> ShopData:
    """Parse and validate the three files. Raises ShopFormatError naming file, record and field."""
    data = ShopData(*(_load(directory, name) for name in FILES))
    for handle, user in data.users.items():
        _check_user(handle, user)
    known_items: dict[str, str] = {}
    for product_id, product in data.products.items():
        _check_product(product_id, product)
        known_items.update({item_id: product_id for item_id in product["variants"]})
    for order_id, order in data.orders.items():
        _check_order(order_id, order, data, known_items)
    return data


def _upsert(model: type[Any], rows: list[Any], unique: str, update: list[str]) -> dict[str, int]:
    """Insert or update `rows` by their public id; returns public id → primary key."""
    if rows:
        model.objects.bulk_create(
            rows, batch_size=1000, update_conflicts=True, unique_fields=[unique], update_fields=update
        )
    keys = [getattr(row, unique) for row in rows]
    return dict(model.objects.filter(**{f"{unique}__in": keys}).values_list(unique, "pk"))


@transaction.atomic
def shop_import(*, data: ShopData, stock: int = 10, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Upsert the store from validated `data` (see shop_read). Available variants get `stock` units.

    Orders' items, fulfillments and payments are replaced as a whole, so a re-import of the
    same files leaves the same rows. Customers keep their login link.
    """
    tick = progress or (lambda n: None)
    customers = _upsert(
        Customer,
        [
            Customer(
                handle=h,
                first_name=u["name"]["first_name"],
                last_name=u["name"]["last_name"],
                email=u["email"],
                **{k: u["address"][k] for k in ADDRESS_KEYS},
            )
            for h, u in data.users.items()
        ],
        "handle",
        ["first_name", "last_name", "email", *ADDRESS_KEYS, "updated_at"],
    )
    methods = _upsert(
        PaymentMethod,
        [
            PaymentMethod(
                customer_id=customers[h],
                payment_method_id=m["id"],
                source=m["source"],
                brand=m.get("brand", ""),
                last_four=m.get("last_four", ""),
                balance=money(m["balance"]) if m["source"] == "gift_card" else None,
            )
            for h, u in data.users.items()
            for m in u["payment_methods"].values()
        ],
        "payment_method_id",
        ["customer", "source", "brand", "last_four", "balance"],
    )
    tick(len(data.users))
    products = _upsert(
        Product,
        [Product(product_id=pid, name=p["name"], product_type=p["name"]) for pid, p in data.products.items()],
        "product_id",
        ["name", "product_type"],
    )
    variants = _upsert(
        Variant,
        [
            Variant(
                product_id=products[pid],
                item_id=v["item_id"],
                options=v["options"],
                price=money(v["price"]),
                stock_quantity=stock if v["available"] else 0,
                active=True,
            )
            for pid, p in data.products.items()
            for v in p["variants"].values()
        ],
        "item_id",
        ["product", "options", "price", "stock_quantity", "active"],
    )
    restocks_detect(variant_ids=variants.values())  # back-in-stock alerts, queued on commit
    tick(len(data.products))
    order_rows = []
    for oid, o in data.orders.items():
        order_rows.append(
            Order(
                order_id=oid,
                customer_id=customers[o["user_id"]],
                status=o["status"],
                cancel_reason=o.get("cancel_reason", ""),
                return_items=o.get("return_items"),
                return_payment_method_id=methods.get(o.get("return_payment_method_id", "")),
                exchange_items=o.get("exchange_items"),
                exchange_new_items=o.get("exchange_new_items"),
                exchange_payment_method_id=methods.get(o.get("exchange_payment_method_id", "")),
                exchange_price_difference=money(o["exchange_price_difference"])
                if "exchange_price_difference" in o
                else None,
                **{k: o["address"][k] for k in ADDRESS_KEYS},
            )
        )
    orders = _upsert(
        Order,
        order_rows,
        "order_id",
        [
            "customer",
            "status",
            "cancel_reason",
            "return_items",
            "return_payment_method",
            "exchange_items",
            "exchange_new_items",
            "exchange_payment_method",
            "exchange_price_difference",
            *ADDRESS_KEYS,
            "updated_at",
        ],
    )
    order_pks = list(orders.values())
    for child in (OrderItem, Fulfillment, PaymentTransaction):
        child.objects.filter(order_id__in=order_pks).delete()
    OrderItem.objects.bulk_create(
        [
            OrderItem(
                order_id=orders[oid],
                product_id=products[i["product_id"]],
                variant_id=variants[i["item_id"]],
                name=i["name"],
                price=money(i["price"]),
                options=i["options"],
            )
            for oid, o in data.orders.items()
            for i in o["items"]
        ],
        batch_size=2000,
    )
    Fulfillment.objects.bulk_create(
        [
            Fulfillment(order_id=orders[oid], tracking_ids=f["tracking_id"], item_ids=f["item_ids"])
            for oid, o in data.orders.items()
            for f in o["fulfillments"]
        ],
        batch_size=2000,
    )
    PaymentTransaction.objects.bulk_create(
        [
            PaymentTransaction(
                order_id=orders[oid],
                transaction_type=p["transaction_type"],
                amount=money(p["amount"]),
                payment_method_id=methods[p["payment_method_id"]],
            )
            for oid, o in data.orders.items()
            for p in o["payment_history"]
        ],
        batch_size=2000,
    )
    # Fresh planner statistics, so the first reads after a bulk load use the indexes.
    with connection.cursor() as cursor:
        for model in (Customer, PaymentMethod, Product, Variant, Order, OrderItem, Fulfillment, PaymentTransaction):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    tick(len(data.orders))
    return {
        "users": len(customers),
        "payment_methods": len(methods),
        "products": len(products),
        "variants": len(variants),
        "orders": len(orders),
    }


def _write(path: Path, records: dict[str, Any]) -> None:
    path.write_text(json.dumps(records, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")


def shop_export(*, directory: Path, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write users.json, products.json and orders.json of the whole store into `directory`."""
    tick = progress or (lambda n: None)
    directory.mkdir(parents=True, exist_ok=True)

    def collect(
        rows: Iterable[Any], key: Callable[[Any], str], shape: Callable[[Any], dict[str, Any]]
    ) -> dict[str, Any]:
        records = {key(row): shape(row) for row in rows}
        tick(len(records))
        return records

    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            # One snapshot for the three files: orders written meanwhile can't appear in
            # orders.json without their customer in users.json.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        users = collect(selectors.customers_for_export(), lambda c: c.handle, selectors.customer_export)
        products = collect(selectors.products_for_export(), lambda p: p.product_id, selectors.product_export)
        orders = collect(selectors.orders_for_export(), lambda o: o.order_id, selectors.order_export)
    _write(directory / "users.json", users)
    _write(directory / "products.json", products)
    _write(directory / "orders.json", orders)
    return {"users": len(users), "products": len(products), "orders": len(orders)}
