"""Stock levels and back-in-stock subscriptions."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from knowledge.services import product_document_sync_enqueue
from orders.models import Customer, RestockNotification, RestockSubscription, Variant
from orders.notifications.restock import restock_detected
from supportbot.errors import InvalidInput, NotFound, RuleViolation


def lock_variant(item_id: str) -> Variant:
    try:
        return Variant.objects.select_for_update(of=("self",)).select_related("product").get(item_id=item_id)
    except Variant.DoesNotExist:
        raise NotFound(f"We couldn't find item {item_id} in the catalog.") from None


@transaction.atomic
def variant_set_stock(*, item_id: str, stock_quantity: int) -> Variant:
    """Staff: set a variant's stock quantity (a whole number, zero or more).

    Back-in-stock alerts hang off this one place: a change from 0 to more than 0 is where the
    restock notifications (orders.notifications.restock) are triggered, inside this transaction.
    """
    if not isinstance(stock_quantity, int) or isinstance(stock_quantity, bool) or stock_quantity < 0:
        raise InvalidInput("Stock must be a whole number of zero or more.")
    variant = lock_variant(item_id)
    restock_detected(variant_id=variant.pk, previous=variant.stock_quantity, current=stock_quantity)
    became_available_or_sold_out = (variant.stock_quantity > 0) != (stock_quantity > 0)
    variant.stock_quantity = stock_quantity
    variant.save(update_fields=["stock_quantity"])
    if became_available_or_sold_out:
        # The catalog document states which options are in stock; refresh it after commit.
        product_document_sync_enqueue(product_id=variant.product.product_id)
    return variant


@transaction.atomic
def restock_subscription_create(*, customer: Customer, item_id: str) -> RestockSubscription:
    """Subscribe `customer` to an unavailable variant. Subscribing twice returns the same subscription."""
    # The variant lock serializes two simultaneous subscribe clicks (one active row each).
    variant = lock_variant(item_id)
    if variant.available:
        raise RuleViolation(
            f"{variant.product.name} ({variant.options_label}) is in stock now — you can order it right away.",
            code="available",
        )
    existing = RestockSubscription.objects.filter(
        customer=customer, variant=variant, status=RestockSubscription.Status.ACTIVE
    ).first()
    return existing or RestockSubscription.objects.create(customer=customer, variant=variant)


@transaction.atomic
def restock_subscription_cancel(*, customer: Customer, item_id: str) -> int:
    """Stop waiting for a variant. Returns how many subscriptions were closed (0 if there were none)."""
    variant = lock_variant(item_id)
    closed = 0
    for subscription in RestockSubscription.objects.select_for_update().filter(
        customer=customer, variant=variant, status=RestockSubscription.Status.ACTIVE
    ):
        subscription.close()
        subscription.save(update_fields=["status", "closed_at"])
        closed += 1
    return closed


@transaction.atomic
def restock_notes_mark_seen(*, customer: Customer, note_ids: Sequence[int]) -> int:
    """Mark back-in-stock portal notes as seen once shown; returns how many were still unseen.

    Only the customer's own notes are touched, whatever ids are passed.
    """
    if not note_ids:
        return 0
    return RestockNotification.objects.filter(customer=customer, pk__in=list(note_ids), seen_at__isnull=True).update(
        seen_at=timezone.now()
    )
