"""The retail actions on orders (tau-bench retail semantics), each atomic and all-or-nothing.

Every service first locks the order row (`SELECT ... FOR UPDATE`) and re-reads its status
under the lock: two requests racing on one order are serialized, and the loser sees the winner's status
(a second cancellation is refused instead of refunding twice). Gift cards are locked after
the order, always in primary-key order, so two orders paid by one card cannot deadlock.

Error messages are written for the customer: the assistant relays them as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from orders.emails import send_cancellation_notice, send_return_instructions
from orders.models import Order, PaymentMethod, PaymentTransaction, SelfServiceRefund
from orders.services._common import (
    ADDRESS_FIELDS,
    check_refund_limit,
    clean_address,
    lock_gift_cards,
    lock_order,
    lock_payment_method,
    match_items,
    money,
    move_gift_card_balance,
    price_difference,
    record,
    replacement_variants,
    require_gift_card_covers,
    require_status,
)
from supportbot.errors import InvalidInput, RuleViolation


@transaction.atomic
def order_cancel(*, order_id: str, reason: str, self_service: bool = False) -> Order:
    """Cancel a pending order and refund every payment on it.

    Each payment method gets back what it paid net of earlier refunds (for an order paid once,
    one refund of the same amount). Gift cards are credited at once; other methods settle in
    5–7 business days. `self_service` counts the refund against the customer's 30-day limit.
    """
    if reason not in Order.CancelReason.values:
        raise InvalidInput("The cancellation reason must be 'no longer needed' or 'ordered by mistake'.")
    order = lock_order(order_id)
    require_status(order, Order.Status.PENDING, "cancel it")
    if self_service:
        check_refund_limit(order.customer)
    history = list(order.payments.select_related("payment_method"))
    owed: dict[int, Decimal] = {}
    for entry in history:
        sign = 1 if entry.transaction_type == PaymentTransaction.Type.PAYMENT else -1
        owed[entry.payment_method_id] = owed.get(entry.payment_method_id, Decimal("0")) + sign * entry.amount
    cards = lock_gift_cards(owed)
    methods = {entry.payment_method_id: entry.payment_method for entry in history}
    for method_pk, amount in owed.items():
        if amount > 0:
            method = cards.get(method_pk, methods[method_pk])
            record(order, PaymentTransaction.Type.REFUND, amount, method)
            move_gift_card_balance(method, amount)
    order.status = Order.Status.CANCELLED
    order.cancel_reason = reason
    order.save(update_fields=["status", "cancel_reason", "updated_at"])
    if self_service:
        SelfServiceRefund.objects.create(customer=order.customer, order=order, kind=SelfServiceRefund.Kind.CANCELLATION)
    # Queued on commit, like return instructions: a rolled-back cancellation is never announced.
    send_cancellation_notice(order.order_id)
    return order


@transaction.atomic
def order_modify_address(
    *,
    order_id: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,  # noqa: A002
) -> Order:
    """Change where a pending order ships. The status stays as it is."""
    address = clean_address(
        {"address1": address1, "address2": address2, "city": city, "state": state, "country": country, "zip": zip}
    )
    order = lock_order(order_id)
    require_status(order, Order.Status.PENDING, "change its address")
    for key, value in address.items():
        setattr(order, key, value)
    order.save(update_fields=[*ADDRESS_FIELDS, "updated_at"])
    return order


@transaction.atomic
def order_modify_payment(*, order_id: str, payment_method_id: str) -> Order:
    """Pay a pending order with another of the customer's methods.

    Precondition: the payment history holds exactly one payment. The new method is charged
    and the old one refunded the same amount; gift-card balances move on either side.
    """
    order = lock_order(order_id)
    require_status(order, Order.Status.PENDING, "change its payment method")
    history = list(order.payments.select_related("payment_method"))
    if len(history) != 1 or history[0].transaction_type != PaymentTransaction.Type.PAYMENT:
        raise RuleViolation(
            f"Order {order.order_id} has more than one payment on record, so its payment method can't be changed here.",
            code="payment_history",
        )
    paid = history[0]
    new = lock_payment_method(order.customer, payment_method_id)
    if new.pk == paid.payment_method_id:
        raise InvalidInput(
            f"Order {order.order_id} is already paid with {new.payment_method_id}; please choose a different method."
        )
    cards = lock_gift_cards([paid.payment_method_id, new.pk])
    new = cards.get(new.pk, new)
    old = cards.get(paid.payment_method_id, paid.payment_method)
    require_gift_card_covers(new, paid.amount)
    record(order, PaymentTransaction.Type.PAYMENT, paid.amount, new)
    record(order, PaymentTransaction.Type.REFUND, paid.amount, old)
    move_gift_card_balance(new, -paid.amount)
    move_gift_card_balance(old, paid.amount)
    order.save(update_fields=["updated_at"])
    return order


@transaction.atomic
def order_modify_items(
    *, order_id: str, item_ids: Sequence[str], new_item_ids: Sequence[str], payment_method_id: str
) -> Order:
    """Swap items of a pending order for other available variants of the same products.

    Repeated ids are counted (two identical shirts → name the id twice). A new id equal to its
    old one leaves that item as it is. The price difference is charged (payment) or refunded
    (refund, 0.00 included) on `payment_method_id` in one transaction. Afterwards the order is
    "pending (item modified)" and can't change again, even if no item actually changed.
    """
    order = lock_order(order_id)
    require_status(order, Order.Status.PENDING, "change its items")
    old_items = match_items(order, item_ids)
    new_variants = replacement_variants(old_items, new_item_ids)
    method = lock_payment_method(order.customer, payment_method_id)
    difference = price_difference(old_items, new_variants)
    require_gift_card_covers(method, difference)
    kind = PaymentTransaction.Type.PAYMENT if difference > 0 else PaymentTransaction.Type.REFUND
    record(order, kind, abs(difference), method)
    move_gift_card_balance(method, -difference)
    # Each pair changes the first row that holds the old item at that moment, as tau-bench does:
    # with [A, A] → [A, B] the first A becomes B, so the item rows end in the benchmark's order.
    rows = list(order.items.select_related("variant"))
    changed: set[int] = set()
    for old_id, variant in zip(item_ids, new_variants, strict=True):
        row = next(row for row in rows if row.variant.item_id == old_id)
        if row.variant_id != variant.pk:
            row.variant, row.price, row.options = variant, variant.price, variant.options
            changed.add(row.pk)
    for row in rows:
        if row.pk in changed:
            row.save(update_fields=["variant", "price", "options"])
    order.status = Order.Status.PENDING_ITEM_MODIFIED
    order.save(update_fields=["status", "updated_at"])
    return order


def _require_refund_destination(order: Order, method: PaymentMethod) -> None:
    first_payment = (
        order.payments.filter(transaction_type=PaymentTransaction.Type.PAYMENT).select_related("payment_method").first()
    )
    if not method.is_gift_card and (first_payment is None or first_payment.payment_method_id != method.pk):
        original = first_payment.payment_method.payment_method_id if first_payment else "the original payment method"
        raise RuleViolation(
            f"A refund can only go to the original payment method ({original}) or to one of your gift cards.",
            code="refund_method",
        )


@transaction.atomic
def order_return_items(
    *, order_id: str, item_ids: Sequence[str], payment_method_id: str, self_service: bool = False
) -> Order:
    """Request a return of delivered items; the customer is emailed return instructions.

    The refund goes to the original payment method or a gift card of the customer, and is
    issued when staff mark the parcel received (`order_return_receive`).
    """
    order = lock_order(order_id)
    require_status(order, Order.Status.DELIVERED, "start a return")
    match_items(order, item_ids)
    method = lock_payment_method(order.customer, payment_method_id)
    _require_refund_destination(order, method)
    if self_service:
        check_refund_limit(order.customer)
    order.status = Order.Status.RETURN_REQUESTED
    order.return_items = sorted(item_ids)
    order.return_payment_method = method
    order.save(update_fields=["status", "return_items", "return_payment_method", "updated_at"])
    if self_service:
        SelfServiceRefund.objects.create(customer=order.customer, order=order, kind=SelfServiceRefund.Kind.RETURN)
    _send_instructions_on_commit(order.order_id)
    return order


@transaction.atomic
def order_exchange_items(
    *, order_id: str, item_ids: Sequence[str], new_item_ids: Sequence[str], payment_method_id: str
) -> Order:
    """Request an exchange of delivered items for other variants of the same products.

    The price difference is recorded with the payment method, not charged yet (a gift card
    must already cover a positive difference). No new order is created.
    """
    order = lock_order(order_id)
    require_status(order, Order.Status.DELIVERED, "start an exchange")
    old_items = match_items(order, item_ids)
    new_variants = replacement_variants(old_items, new_item_ids)
    method = lock_payment_method(order.customer, payment_method_id)
    difference = price_difference(old_items, new_variants)
    require_gift_card_covers(method, difference)
    order.status = Order.Status.EXCHANGE_REQUESTED
    order.exchange_items = sorted(item_ids)
    order.exchange_new_items = sorted(new_item_ids)
    order.exchange_payment_method = method
    order.exchange_price_difference = difference
    order.save(
        update_fields=[
            "status",
            "exchange_items",
            "exchange_new_items",
            "exchange_payment_method",
            "exchange_price_difference",
            "updated_at",
        ]
    )
    _send_instructions_on_commit(order.order_id)
    return order


def _send_instructions_on_commit(order_id: str) -> None:
    # Queued when the transaction commits (send_return_instructions does that): the mail must
    # never announce a request that was rolled back.
    send_return_instructions(order_id)


@transaction.atomic
def order_return_receive(*, order_id: str) -> Order:
    """Staff: the returned parcel arrived. Refund the returned items' prices to the chosen method."""
    order = lock_order(order_id)
    if order.status != Order.Status.RETURN_REQUESTED or order.return_received_at is not None:
        raise RuleViolation(f"Order {order.order_id} has no open return to receive.", code="wrong_status")
    rows = match_items(order, order.return_items or [])
    assert order.return_payment_method_id is not None
    method = (
        lock_gift_cards([order.return_payment_method_id]).get(order.return_payment_method_id)
        or order.return_payment_method
    )
    assert method is not None
    amount = money(sum((row.price for row in rows), Decimal("0")))
    record(order, PaymentTransaction.Type.REFUND, amount, method)
    move_gift_card_balance(method, amount)
    order.return_received_at = timezone.now()
    order.save(update_fields=["return_received_at", "updated_at"])
    return order
