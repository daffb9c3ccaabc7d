"""Reads of the orders app.

`*_details` return records in exactly the tau-bench retail JSON shape (what export_shop writes
and what the assistant's read tools return). `access_*` fetch with a permission check:
another customer's record is reported exactly like a missing one, so nothing leaks about
which order numbers or accounts exist. `customer=None` means an operator acting store-wide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from orders.models import (
    Customer,
    Order,
    OrderItem,
    PaymentMethod,
    PaymentTransaction,
    Product,
    RestockNotification,
    RestockSubscription,
    SelfServiceRefund,
    Variant,
)
from supportbot.errors import NotFound, RuleViolation

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def _amount(value: Any) -> float:
    return float(round(value, 2))


# --- export shapes ---------------------------------------------------------------------------


def orders_for_export() -> QuerySet[Order]:
    """Orders with everything `order_export` reads, in 4 queries whatever their number."""
    return (
        Order.objects.select_related("customer", "return_payment_method", "exchange_payment_method")
        .prefetch_related(
            Prefetch(
                "items",
                queryset=OrderItem.objects.select_related("variant", "product").only(
                    "order_id", "name", "price", "options", "variant__item_id", "product__product_id"
                ),
            ),
            "fulfillments",
            Prefetch(
                "payments",
                queryset=PaymentTransaction.objects.select_related("payment_method").only(
                    "order_id",
                    "transaction_type",
                    "amount",
                    "payment_method__payment_method_id",
                    "payment_method__source",
                    "payment_method__brand",
                    "payment_method__last_four",
                ),
            ),
        )
        .order_by("id")
    )


def order_export(order: Order) -> dict[str, Any]:
    """One order as a tau-bench record (rows prefetched by `orders_for_export`)."""
    record: dict[str, Any] = {
        "order_id": order.order_id,
        "user_id": order.customer.handle,
        "address": {key: getattr(order, key) for key in ("address1", "address2", "city", "country", "state", "zip")},
        "items": [
            {
                "name": item.name,
                "product_id": item.product.product_id,
                "item_id": item.variant.item_id,
                "price": _amount(item.price),
                "options": item.options,
            }
            for item in order.items.all()
        ],
        "fulfillments": [
            {"tracking_id": list(f.tracking_ids), "item_ids": list(f.item_ids)} for f in order.fulfillments.all()
        ],
        "status": order.status,
        "payment_history": [
            {
                "transaction_type": p.transaction_type,
                "amount": _amount(p.amount),
                "payment_method_id": p.payment_method.payment_method_id,
            }
            for p in order.payments.all()
        ],
    }
    # Request fields appear only once set, as tau-bench adds them.
    if order.cancel_reason:
        record["cancel_reason"] = order.cancel_reason
    if order.return_items is not None:
        record["return_items"] = list(order.return_items)
        record["return_payment_method_id"] = (
            order.return_payment_method.payment_method_id if order.return_payment_method else None
        )
    if order.exchange_items is not None:
        record["exchange_items"] = list(order.exchange_items)
        record["exchange_new_items"] = list(order.exchange_new_items or [])
        record["exchange_payment_method_id"] = (
            order.exchange_payment_method.payment_method_id if order.exchange_payment_method else None
        )
        record["exchange_price_difference"] = _amount(order.exchange_price_difference or 0)
    return record


def payment_method_export(method: PaymentMethod) -> dict[str, Any]:
    record: dict[str, Any] = {"source": method.source}
    if method.source == PaymentMethod.Source.CREDIT_CARD:
        record.update(brand=method.brand, last_four=method.last_four)
    if method.source == PaymentMethod.Source.GIFT_CARD:
        record["balance"] = _amount(method.balance or 0)
    record["id"] = method.payment_method_id
    return record


def customers_for_export() -> QuerySet[Customer]:
    return Customer.objects.prefetch_related(
        "payment_methods",
        Prefetch("orders", queryset=Order.objects.only("id", "order_id", "customer_id").order_by("id")),
    ).order_by("id")


def customer_export(customer: Customer) -> dict[str, Any]:
    return {
        "name": {"first_name": customer.first_name, "last_name": customer.last_name},
        "address": {key: getattr(customer, key) for key in ("address1", "address2", "city", "country", "state", "zip")},
        "email": customer.email,
        "payment_methods": {m.payment_method_id: payment_method_export(m) for m in customer.payment_methods.all()},
        "orders": [order.order_id for order in customer.orders.all()],
    }


def products_for_export() -> QuerySet[Product]:
    return Product.objects.prefetch_related(Prefetch("variants", queryset=Variant.objects.order_by("id"))).order_by(
        "id"
    )


def product_export(product: Product) -> dict[str, Any]:
    return {
        "name": product.name,
        "product_id": product.product_id,
        "variants": {
            v.item_id: {"item_id": v.item_id, "options": v.options, "available": v.available, "price": _amount(v.price)}
            for v in product.variants.all()
        },
    }


# --- single records --------------------------------------------------------------------------


def _order_not_found(order_id: str) -> NotFound:
    return NotFound(f"We couldn't find order {order_id}. Please check the order number.", extra={"order_id": order_id})


def access_order(*, customer: Customer | None, order_id: str) -> Order:
    """The order with its export rows prefetched; NotFound if missing or not `customer`'s."""
    orders = orders_for_export()
    if customer is not None:
        orders = orders.filter(customer=customer)
    order = orders.filter(order_id=order_id).first()
    if order is None:
        raise _order_not_found(order_id)
    return order


def check_order_access(*, customer: Customer | None, order_id: str) -> None:
    """Raise NotFound unless the order exists and (for a customer) is theirs; one cheap query."""
    orders = Order.objects.filter(order_id=order_id)
    if customer is not None:
        orders = orders.filter(customer=customer)
    if not orders.exists():
        raise _order_not_found(order_id)


def check_refund_limit_not_reached(*, customer: Customer) -> None:
    """Raise RuleViolation if the customer has used up their self-service refunds (30 days).

    Read without a lock: the services that refund lock the customer row and ask again.
    """
    limit = settings.ORDERS_SELF_SERVICE_REFUND_LIMIT
    since = timezone.now() - timedelta(days=30)
    if SelfServiceRefund.objects.filter(customer=customer, created_at__gte=since).count() >= limit:
        raise RuleViolation(
            f"You've already had {limit} refund(s) through self-service in the last 30 days, so a human agent "
            "will handle this one. I can transfer you to an agent now.",
            code="refund_limit",
        )


def payment_method_for(*, customer: Customer | None, payment_method_id: str) -> PaymentMethod | None:
    """The payment method if it exists and (for a customer) is theirs, else None."""
    methods = PaymentMethod.objects.filter(payment_method_id=payment_method_id)
    if customer is not None:
        methods = methods.filter(customer=customer)
    return methods.first()


def variant_price(item_id: str) -> Decimal:
    price = Variant.objects.filter(item_id=item_id).values_list("price", flat=True).first()
    if price is None:
        raise NotFound(f"We couldn't find item {item_id} in the catalog.")
    return price


# One round trip for the hottest read of the assistant. PostgreSQL assembles the record (items,
# fulfillments, payments in id order) so Python builds no model instances: through the ORM the
# same record takes four queries and a model instance per row. The shape must stay identical to
# `order_export` (tests compare the two).
_ORDER_DETAILS_SQL = """
SELECT json_build_object(
    'order_id', o.order_id,
    'user_id', c.handle,
    'address', json_build_object('address1', o.address1, 'address2', o.address2, 'city', o.city,
                                 'country', o.country, 'state', o.state, 'zip', o.zip),
    'items', COALESCE((
        SELECT json_agg(json_build_object('name', i.name, 'product_id', p.product_id, 'item_id', v.item_id,
                                          'price', round(i.price, 2), 'options', i.options) ORDER BY i.id)
        FROM orders_orderitem i
        JOIN orders_product p ON p.id = i.product_id
        JOIN orders_variant v ON v.id = i.variant_id
        WHERE i.order_id = o.id), '[]'::json),
    'fulfillments', COALESCE((
        SELECT json_agg(json_build_object('tracking_id', f.tracking_ids, 'item_ids', f.item_ids) ORDER BY f.id)
        FROM orders_fulfillment f WHERE f.order_id = o.id), '[]'::json),
    'status', o.status,
    'payment_history', COALESCE((
        SELECT json_agg(json_build_object('transaction_type', t.transaction_type, 'amount', round(t.amount, 2),
                                          'payment_method_id', m.payment_method_id) ORDER BY t.id)
        FROM orders_paymenttransaction t
        JOIN orders_paymentmethod m ON m.id = t.payment_method_id
        WHERE t.order_id = o.id), '[]'::json)
)::text,
    o.cancel_reason, o.return_items::text, rm.payment_method_id,
    o.exchange_items::text, o.exchange_new_items::text, em.payment_method_id, o.exchange_price_difference
FROM orders_order o
JOIN orders_customer c ON c.id = o.customer_id
LEFT JOIN orders_paymentmethod rm ON rm.id = o.return_payment_method_id
LEFT JOIN orders_paymentmethod em ON em.id = o.exchange_payment_method_id
WHERE o.order_id = %s AND (%s::bigint IS NULL OR o.customer_id = %s::bigint)
"""


def order_details(order_id: str, *, customer: Customer | None = None) -> dict[str, Any]:
    """The order as a tau-bench record; NotFound if missing or not `customer`'s (one query)."""
    customer_pk = customer.pk if customer is not None else None
    with connection.cursor() as cursor:
        cursor.execute(_ORDER_DETAILS_SQL, [order_id, customer_pk, customer_pk])
        row = cursor.fetchone()
    if row is None:
        raise _order_not_found(order_id)
    (
        record_json,
        cancel_reason,
        return_items,
        return_method,
        exchange_items,
        exchange_new_items,
        exchange_method,
        exchange_difference,
    ) = row
    record: dict[str, Any] = json.loads(record_json)
    # Request fields appear only once set, as tau-bench adds them (same rules as order_export).
    if cancel_reason:
        record["cancel_reason"] = cancel_reason
    if return_items is not None and json.loads(return_items) is not None:
        record["return_items"] = list(json.loads(return_items))
        record["return_payment_method_id"] = return_method
    if exchange_items is not None and json.loads(exchange_items) is not None:
        record["exchange_items"] = list(json.loads(exchange_items))
        record["exchange_new_items"] = list(json.loads(exchange_new_items) or []) if exchange_new_items else []
        record["exchange_payment_method_id"] = exchange_method
        record["exchange_price_difference"] = _amount(exchange_difference or 0)
    return record


_ORDER_TRACKING_SQL = """
SELECT o.order_id, o.status, o.created_at,
    COALESCE((
        SELECT json_agg(json_build_object('item_id', v.item_id, 'name', i.name) ORDER BY i.id)
        FROM orders_orderitem i JOIN orders_variant v ON v.id = i.variant_id
        WHERE i.order_id = o.id), '[]'::json)::text,
    COALESCE((
        SELECT json_agg(json_build_object('carrier', f.carrier, 'tracking_ids', f.tracking_ids,
                                          'tracking_status', f.tracking_status, 'item_ids', f.item_ids) ORDER BY f.id)
        FROM orders_fulfillment f WHERE f.order_id = o.id), '[]'::json)::text
FROM orders_order o
WHERE o.order_id = %s AND (%s::bigint IS NULL OR o.customer_id = %s::bigint)
"""


def order_tracking(order_id: str, *, customer: Customer | None = None) -> dict[str, Any]:
    """Status, items and shipments of an order (one query); NotFound if missing or not `customer`'s.

    {"order_id", "status", "created_at", "items": [{"item_id", "name"}],
     "fulfillments": [{"carrier", "tracking_ids", "tracking_status", "item_ids"}]}
    """
    customer_pk = customer.pk if customer is not None else None
    with connection.cursor() as cursor:
        cursor.execute(_ORDER_TRACKING_SQL, [order_id, customer_pk, customer_pk])
        row = cursor.fetchone()
    if row is None:
        raise _order_not_found(order_id)
    found_id, status, created_at, items, fulfillments = row
    return {
        "order_id": found_id,
        "status": status,
        "created_at": created_at,
        "items": json.loads(items),
        "fulfillments": json.loads(fulfillments),
    }


def customer_for_user(user: AbstractBaseUser | AnonymousUser) -> Customer | None:
    """The store profile of the signed-in `user`; None when signed out or for a staff account
    without one.

    None rather than an error: what someone without a store profile sees is the page's call
    (an empty My orders, the chat's "customer accounts only" page); the API and the chat turn
    use `access_customer_for_user`, which refuses.
    """
    if not user.is_authenticated:
        return None
    # Through the reverse accessor, so the result is cached on the request's user: the view,
    # the turn and the page's navigation (`user.customer` in base.html) all need it, and only
    # the first asks the database.
    try:
        customer: Customer = user.customer  # type: ignore[union-attr,attr-defined,unused-ignore]
    except Customer.DoesNotExist:
        return None
    return customer


def access_customer_for_user(user: AbstractBaseUser | AnonymousUser) -> Customer:
    """The signed-in `user`'s store profile; NotFound for a signed-out or staff-only account."""
    customer = customer_for_user(user)
    if customer is None:
        raise NotFound("Only customer accounts can chat with the assistant.")
    return customer


def access_customer(*, customer: Customer | None, handle: str) -> Customer:
    """The account `handle`; NotFound if missing or, for a signed-in customer, not their own."""
    if customer is not None and customer.handle != handle:
        raise NotFound(f"We couldn't find the customer account {handle}.")
    found = customers_for_export().filter(handle=handle).first()
    if found is None:
        raise NotFound(f"We couldn't find the customer account {handle}.")
    return found


def customer_details(handle: str, *, customer: Customer | None = None) -> dict[str, Any]:
    return customer_export(access_customer(customer=customer, handle=handle))


def product_details(product_id: str) -> dict[str, Any]:
    product = products_for_export().filter(product_id=product_id).first()
    if product is None:
        raise NotFound(f"We couldn't find product {product_id} in the catalog.")
    return product_export(product)


def product_types() -> dict[str, str]:
    """Product name → product id, sorted by name (tau-bench's list_all_product_types: each product is a type)."""
    return dict(Product.objects.order_by("name", "id").values_list("name", "product_id"))


def customer_find_by_email(email: str) -> Customer:
    found = Customer.objects.filter(email__iexact=email.strip()).order_by("id").first()
    if found is None:
        raise NotFound("We couldn't find an account with that email address.")
    return found


def customer_find_by_name_zip(first_name: str, last_name: str, zip: str) -> Customer:  # noqa: A002
    found = (
        Customer.objects.filter(
            first_name__iexact=first_name.strip(), last_name__iexact=last_name.strip(), zip=zip.strip()
        )
        .order_by("id")
        .first()
    )
    if found is None:
        raise NotFound("We couldn't find an account with that name and zip code.")
    return found


# --- pages and the assistant's profile context -----------------------------------------------


def orders_for_customer(customer: Customer) -> QuerySet[Order]:
    """The customer's orders, newest first, with items and products for listing."""
    return (
        Order.objects.filter(customer=customer)
        .prefetch_related(Prefetch("items", queryset=OrderItem.objects.select_related("variant")))
        .order_by("-created_at", "-id")
    )


def recent_orders_summary(*, customer: Customer, limit: int) -> list[dict[str, Any]]:
    """The customer's latest orders, newest first: order_id, status, created_at and item_count (one query)."""
    orders = (
        Order.objects.filter(customer=customer)
        .annotate(item_count=Count("items"))
        .order_by("-created_at", "-id")
        .values("order_id", "status", "created_at", "item_count")
    )
    return [dict(row) for row in orders[:limit]]


def order_for_page(*, customer: Customer | None, order_id: str) -> Order:
    """An order for its detail page (payments, fulfillments, items); NotFound if not the customer's."""
    return access_order(customer=customer, order_id=order_id)


def product_for_page(*, product_id: str) -> Product:
    product = (
        Product.objects.prefetch_related(Prefetch("variants", queryset=Variant.objects.order_by("price", "id")))
        .filter(product_id=product_id)
        .first()
    )
    if product is None:
        raise NotFound(f"We couldn't find product {product_id} in the catalog.")
    return product


def restock_item_ids_for(*, customer: Customer, product: Product) -> set[str]:
    """Item ids of `product` the customer is waiting for."""
    return set(
        RestockSubscription.objects.filter(
            customer=customer, variant__product=product, status=RestockSubscription.Status.ACTIVE
        ).values_list("variant__item_id", flat=True)
    )


def restock_notes_unseen(*, customer: Customer, limit: int = 20) -> list[RestockNotification]:
    """The customer's back-in-stock portal notes not shown yet, newest first, in one query."""
    return list(
        RestockNotification.objects.filter(customer=customer, seen_at__isnull=True)
        .select_related("subscription__variant__product")
        .order_by("-created_at", "-pk")[:limit]
    )


def products_for_catalog() -> QuerySet[Product]:
    return Product.objects.prefetch_related("variants").order_by("product_type", "name")


def product_with_variants(product_id: str) -> ProductVariants | None:
    """One product with its variants (one query), or None."""
    return products_with_variants([product_id]).get(product_id)


def variant_with_product(item_id: str) -> Variant | None:
    return Variant.objects.select_related("product").filter(item_id=item_id).first()


def catalog_shape() -> tuple[object, ...]:
    """Counts and highest ids of products and variants (one cheap query): changes when the catalog grows or shrinks."""
    products, variants = Product._meta.db_table, Variant._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM {products}), (SELECT max(id) FROM {products}),"  # noqa: S608 - model table names
            f" (SELECT count(*) FROM {variants}), (SELECT max(id) FROM {variants})"
        )
        return tuple(cursor.fetchone() or ())


@dataclass(frozen=True)
class ProductVariants:
    product: Product
    variants: list[Variant]  # by id


def products_with_variants(product_ids: list[str]) -> dict[str, ProductVariants]:
    """The products asked for with their variants (by id), by product_id; ids not in the catalog are left out.

    One query (the variants joined to their product); a product without any variant costs a second.
    """
    found: dict[str, ProductVariants] = {}
    if not product_ids:
        return found
    variants = (
        Variant.objects.filter(product__product_id__in=product_ids)
        .select_related("product")
        .order_by("product_id", "id")
    )
    for variant in variants:
        entry = found.get(variant.product.product_id)
        if entry is None:
            entry = found[variant.product.product_id] = ProductVariants(variant.product, [])
        else:
            variant.product = entry.product  # one Product object per product, as a prefetch gives
        entry.variants.append(variant)
    missing = set(product_ids) - set(found)
    if missing:
        for product in Product.objects.filter(product_id__in=missing):
            found[product.product_id] = ProductVariants(product, [])
    return found
