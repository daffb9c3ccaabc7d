"""Staff approval of a requested exchange (the step after `order_exchange_items`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction

from orders.models import Order, OrderItem, PaymentTransaction, Variant
from orders.services._common import lock_gift_cards, lock_order, match_items, money, move_gift_card_balance, record
from supportbot.errors import NotFound, PermissionDenied, RuleViolation


def _pair_by_product(rows: Sequence[OrderItem], new_item_ids: Sequence[str]) -> list[tuple[OrderItem, Variant]]:
    """Pair the exchanged rows with their new variants; rows left as they are are not returned.

    The request stores both id lists sorted, so which old item was to become which new one is
    not recorded. Any pairing within a product gives the order the same items in the end, so a
    new id equal to an exchanged item keeps that row unchanged, and the rest pair by product.
    """
    variants = {v.item_id: v for v in Variant.objects.select_related("product").filter(item_id__in=set(new_item_ids))}
    missing = sorted(set(new_item_ids) - set(variants))
    if missing:
        raise NotFound(f"The new item(s) {', '.join(missing)} of this exchange are no longer in the catalog.")
    waiting = [variants[item_id] for item_id in new_item_ids]
    changing: list[OrderItem] = []
    for row in rows:
        same = next((v for v in waiting if v.pk == row.variant_id), None)
        if same is not None:
            waiting.remove(same)
        else:
            changing.append(row)
    pairs = []
    for row in changing:
        new = next((v for v in waiting if v.product_id == row.product_id), None)
        if new is None:
            raise RuleViolation(
                f"The recorded exchange has no new item for {row.name} ({row.variant.item_id}).",
                code="exchange_mismatch",
            )
        waiting.remove(new)
        pairs.append((row, new))
    return pairs


@transaction.atomic
def order_exchange_approve(*, order_id: str, staff_user: AbstractBaseUser | AnonymousUser) -> Order:
    """Staff: approve an order's requested exchange and apply it (tau-bench retail semantics).

    Preconditions: `staff_user` is an active staff member; the order is "exchange requested";
    every new item is still available; a gift card paying a positive difference covers it.

    The order's rows take the new items' variant, price and options; the price difference
    recorded at request time is settled in one transaction on the recorded payment method
    (a payment if positive, a refund otherwise — 0.00 included, as for item changes), and a
    gift card's balance moves with it. The exchange fields stay as the record of what happened.

    The status becomes "processed", not "delivered": approving means the replacement items are
    now being prepared for shipping, and "processed" is the status that says so. It also keeps
    the order from being cancelled, changed, returned or exchanged again until it is delivered.
    """
    if not (staff_user.is_authenticated and getattr(staff_user, "is_staff", False) and staff_user.is_active):
        raise PermissionDenied("Only staff can approve an exchange.")
    order = lock_order(order_id)
    if order.status != Order.Status.EXCHANGE_REQUESTED:
        raise RuleViolation(
            f"Order {order.order_id} is {order.status!r}, not 'exchange requested', so there is no exchange to approve.",
            code="wrong_status",
            extra={"status": order.status},
        )
    rows = match_items(order, order.exchange_items or [])
    pairs = _pair_by_product(rows, order.exchange_new_items or [])
    unavailable = [new for _, new in pairs if not new.available]
    if unavailable:
        names = ", ".join(f"{v.item_id} ({v.product.name}, {v.options_label})" for v in unavailable)
        raise RuleViolation(
            f"Order {order.order_id} can't be exchanged yet: {names} is out of stock.", code="unavailable"
        )
    assert order.exchange_payment_method_id is not None and order.exchange_payment_method is not None
    method = (
        lock_gift_cards([order.exchange_payment_method_id]).get(order.exchange_payment_method_id)
        or order.exchange_payment_method
    )
    difference = money(order.exchange_price_difference or Decimal("0"))
    if method.is_gift_card and difference > 0 and (method.balance or Decimal("0")) < difference:
        raise RuleViolation(
            f"Your {method.label} has ${method.balance} left, which doesn't cover the ${difference} "
            f"price difference of order {order.order_id}'s exchange.",
            code="insufficient_balance",
        )
    kind = PaymentTransaction.Type.PAYMENT if difference > 0 else PaymentTransaction.Type.REFUND
    record(order, kind, abs(difference), method)
    move_gift_card_balance(method, -difference)
    for row, variant in pairs:
        row.variant, row.price, row.options = variant, variant.price, variant.options
        row.save(update_fields=["variant", "price", "options"])
    order.status = Order.Status.PROCESSED
    order.save(update_fields=["status", "updated_at"])
    return order
