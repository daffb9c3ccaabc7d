"""Helpers shared by the services: locks, status checks, money, item matching.

Every function here expects to run inside the caller's transaction (`@transaction.atomic`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from orders.models import Customer, Order, OrderItem, PaymentMethod, PaymentTransaction, Variant
from orders.selectors import check_refund_limit_not_reached
from supportbot.errors import InvalidInput, NotFound, RuleViolation

CENT = Decimal("0.01")
ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")


def money(value: Decimal | float | int | str) -> Decimal:
    """Round to cents, half up (how the store rounds every amount it shows or stores)."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


_STATUS_REFUSALS = {
    Order.Status.PENDING_ITEM_MODIFIED: "the items of order {id} were already changed once, so it can no longer be changed or cancelled",
    Order.Status.PROCESSED: "order {id} is already being prepared for shipping",
    Order.Status.DELIVERED: "order {id} was delivered",
    Order.Status.CANCELLED: "order {id} is cancelled",
    Order.Status.RETURN_REQUESTED: "order {id} already has a return request",
    Order.Status.EXCHANGE_REQUESTED: "order {id} already has an exchange request",
    Order.Status.PENDING: "order {id} hasn't been delivered yet",
}
_HINTS = {
    Order.Status.DELIVERED: " You can return or exchange items from it instead.",
    Order.Status.PENDING: " You can still cancel it or change it while it is pending.",
}


def lock_order(order_id: str) -> Order:
    try:
        return Order.objects.select_for_update(of=("self",)).select_related("customer").get(order_id=order_id)
    except Order.DoesNotExist:
        raise NotFound(f"We couldn't find order {order_id}. Please check the order number.") from None


def require_status(order: Order, allowed: str, action: str) -> None:
    """Refuse `action` ("cancel it") unless the order is in status `allowed` (caller holds the lock)."""
    if order.status != allowed:
        reason = _STATUS_REFUSALS[Order.Status(order.status)].format(id=order.order_id)
        raise RuleViolation(
            f"Sorry, {reason}, so we can't {action}.{_HINTS.get(Order.Status(order.status), '')}",
            code="wrong_status",
            extra={"status": order.status},
        )


def lock_payment_method(customer: Customer, payment_method_id: str) -> PaymentMethod:
    try:
        return PaymentMethod.objects.select_for_update().get(payment_method_id=payment_method_id, customer=customer)
    except PaymentMethod.DoesNotExist:
        raise NotFound(f"The payment method {payment_method_id} isn't one of your saved payment methods.") from None


def lock_gift_cards(ids: Iterable[int]) -> dict[int, PaymentMethod]:
    return {
        card.pk: card
        for card in PaymentMethod.objects.select_for_update()
        .filter(pk__in=set(ids), source=PaymentMethod.Source.GIFT_CARD)
        .order_by("pk")
    }


def require_gift_card_covers(method: PaymentMethod, amount: Decimal) -> None:
    if method.is_gift_card and amount > 0 and (method.balance or Decimal("0")) < amount:
        raise RuleViolation(
            f"Your {method.label} has ${method.balance} left, which doesn't cover ${amount}. "
            "Please choose another payment method.",
            code="insufficient_balance",
        )


def move_gift_card_balance(method: PaymentMethod, delta: Decimal) -> None:
    if method.is_gift_card:
        method.balance = money((method.balance or Decimal("0")) + delta)
        method.save(update_fields=["balance"])


def record(order: Order, kind: str, amount: Decimal, method: PaymentMethod) -> PaymentTransaction:
    return PaymentTransaction.objects.create(
        order=order, transaction_type=kind, amount=money(amount), payment_method=method
    )


def match_items(order: Order, item_ids: Sequence[str]) -> list[OrderItem]:
    """The order's item rows for `item_ids`, one row per id, repeats consuming further rows."""
    if not item_ids:
        raise InvalidInput("Please name at least one item.")
    unused = list(order.items.select_related("variant", "product"))
    matched: list[OrderItem] = []
    for item_id in item_ids:
        row = next((row for row in unused if row.variant.item_id == item_id), None)
        if row is None:
            wanted, held = (
                list(item_ids).count(item_id),
                sum(1 for r in order.items.all() if r.variant.item_id == item_id),
            )
            if held:
                raise InvalidInput(
                    f"Order {order.order_id} contains item {item_id} {held} time(s), but {wanted} were requested."
                )
            raise InvalidInput(f"Item {item_id} is not part of order {order.order_id}.")
        unused.remove(row)
        matched.append(row)
    return matched


def replacement_variants(old_items: Sequence[OrderItem], new_item_ids: Sequence[str]) -> list[Variant]:
    """Check each new id is an available variant of the same product as the old item.

    A new id equal to the old one is accepted, as tau-bench's retail tools accept it: that item
    stays as it is. Like tau-bench, it must still be available — a customer keeping a sold-out
    item is told to leave it out of the change instead.
    """
    if len(old_items) != len(new_item_ids):
        raise InvalidInput(
            f"Please give one new item for each item being replaced ({len(old_items)} old, {len(new_item_ids)} new)."
        )
    variants = {v.item_id: v for v in Variant.objects.select_related("product").filter(item_id__in=set(new_item_ids))}
    replacements = []
    for old, new_id in zip(old_items, new_item_ids, strict=True):
        new = variants.get(new_id)
        if new is None:
            raise NotFound(f"We couldn't find item {new_id} in the catalog.")
        if new.product_id != old.product_id:
            raise InvalidInput(
                f"Item {new_id} is a {new.product.name}, not a variant of the {old.name} it would replace."
            )
        if not new.available and new.pk == old.variant_id:
            raise RuleViolation(
                f"Item {new_id} ({new.product.name}, {new.options_label}) is sold out right now, so it can't be "
                "part of the change even to stay as it is. Leave it out of the change and it stays in your order.",
                code="unavailable",
            )
        if not new.available:
            raise RuleViolation(
                f"Item {new_id} ({new.product.name}, {new.options_label}) is not available right now.",
                code="unavailable",
            )
        replacements.append(new)
    return replacements


def price_difference(old_items: Sequence[OrderItem], new_variants: Sequence[Variant]) -> Decimal:
    """What the new items cost more (positive) or less than the old ones.

    An item that stays as it is adds nothing, even if its price changed since the purchase: the
    customer keeps what they paid for at the price they paid. (tau-bench charges the gap between
    the purchase price and today's; its data has no such gap, so the results agree on it.)
    """
    pairs = zip(old_items, new_variants, strict=True)
    changes = (new.price - old.price for old, new in pairs if new.pk != old.variant_id)
    return money(sum(changes, Decimal("0")))


def check_refund_limit(customer: Customer) -> None:
    """Refuse a self-service refund beyond ORDERS_SELF_SERVICE_REFUND_LIMIT in 30 days.

    The customer row is locked so two simultaneous requests for different orders cannot
    both see a count under the limit.
    """
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
    check_refund_limit_not_reached(customer=customer)


def clean_address(fields: dict[str, str]) -> dict[str, str]:
    cleaned = {key: (fields.get(key) or "").strip() for key in ADDRESS_FIELDS}
    missing = [key for key in ADDRESS_FIELDS if key != "address2" and not cleaned[key]]
    if missing:
        raise InvalidInput(f"The address is missing: {', '.join(missing)}.")
    return cleaned
