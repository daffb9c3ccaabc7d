"""Cart recovery: find abandoned carts, remind their owners once (and optionally twice).

A cart is due its first reminder when it is open, has items, has been idle longer than
CART_ABANDON_AFTER, its customer has placed no order since it was last touched, it was never
reminded and the customer has not opted out of cart reminders. The second reminder goes
CART_SECOND_REMINDER_AFTER after the first (0 disables it) under the same rules, provided the
cart has not changed since the first one.

The selection walks the partial index orders_cart_recovery_due (open, never-reminded carts by
idle time; see migration 0003) in keyset order, one batch at a time, so its cost per batch does
not grow with the number of carts. A batch is claimed in one transaction (ledger rows created,
cart.reminder_sent_at set) before any mail goes out; orders.notifications.ledger sends them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from orders.models import Cart, CartItem, CartReminder, EmailOptOut, Order
from orders.notifications.ledger import SendOutcome, render_email, send_ledgered
from orders.notifications.links import cart_restore_url, read_cart_restore_token, unsubscribe_url
from supportbot.celery import app
from supportbot.errors import NotFound
from supportbot.services import task_enqueue_on_commit

CART_BATCH_SIZE = 500
# Queued by name: orders.tasks imports the services this task calls.
CART_REMINDERS_TASK = "orders.send_cart_reminders"


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the last (time, id) a batch returned."""

    at: datetime
    pk: int


# --- selectors ---------------------------------------------------------------------------------


def carts_due_first_reminder_queryset(*, now: datetime, after: Cursor | None = None) -> QuerySet[Cart]:
    """Carts due their first reminder, oldest first (see the module docstring for the rules)."""
    cutoff = now - settings.CART_ABANDON_AFTER
    queryset = Cart.objects.filter(status=Cart.Status.OPEN, reminder_sent_at__isnull=True, updated_at__lte=cutoff)
    if after is not None:
        # The plain range keeps the index bound; the OR breaks ties on equal timestamps.
        queryset = queryset.filter(updated_at__gte=after.at).filter(Q(updated_at__gt=after.at) | Q(pk__gt=after.pk))
    queryset = (
        queryset.filter(Exists(CartItem.objects.filter(cart_id=OuterRef("pk"))))
        .exclude(
            Exists(Order.objects.filter(customer_id=OuterRef("customer_id"), created_at__gte=OuterRef("updated_at")))
        )
        .exclude(Exists(EmailOptOut.objects.filter(customer_id=OuterRef("customer_id"), kind=EmailOptOut.Kind.CART)))
    )
    return queryset.order_by("updated_at", "pk")


def carts_due_first_reminder(
    *, now: datetime, after: Cursor | None = None, limit: int = CART_BATCH_SIZE
) -> list[tuple[int, datetime]]:
    """(cart id, updated_at) of the next `limit` carts due their first reminder, oldest first."""
    return list(carts_due_first_reminder_queryset(now=now, after=after).values_list("pk", "updated_at")[:limit])


def reminders_due_second(
    *, now: datetime, after: Cursor | None = None, limit: int = CART_BATCH_SIZE
) -> list[tuple[int, datetime]]:
    """(first reminder id, its sent_at) of the next `limit` carts due a second reminder."""
    delay: timedelta = settings.CART_SECOND_REMINDER_AFTER
    if not delay:
        return []
    queryset = CartReminder.objects.filter(
        sequence=1, status=CartReminder.Status.SENT, sent_at__lte=now - delay, cart__status=Cart.Status.OPEN
    )
    if after is not None:
        queryset = queryset.filter(sent_at__gte=after.at).filter(Q(sent_at__gt=after.at) | Q(pk__gt=after.pk))
    # A cart touched after the first reminder is in use again, not abandoned.
    queryset = queryset.filter(cart__updated_at__lte=F("created_at"))
    queryset = (
        queryset.exclude(Exists(CartReminder.objects.filter(cart_id=OuterRef("cart_id"), sequence=2)))
        .exclude(
            Exists(
                Order.objects.filter(customer_id=OuterRef("customer_id"), created_at__gte=OuterRef("cart__updated_at"))
            )
        )
        .exclude(Exists(EmailOptOut.objects.filter(customer_id=OuterRef("customer_id"), kind=EmailOptOut.Kind.CART)))
    )
    rows = queryset.order_by("sent_at", "pk").values_list("pk", "sent_at")[:limit]
    return [(pk, sent_at) for pk, sent_at in rows if sent_at is not None]  # sent rows always have sent_at


def _walk(select, *, now: datetime, batch_size: int) -> Iterator[list[int]]:  # type: ignore[no-untyped-def]
    after: Cursor | None = None
    while True:
        rows = select(now=now, after=after, limit=batch_size)
        if not rows:
            return
        yield [pk for pk, _ in rows]
        after = Cursor(at=rows[-1][1], pk=rows[-1][0])


def cart_recovery_stats(*, since: datetime) -> dict[str, int]:
    """Reminders sent since `since`, how many were opened (restore link) and converted."""
    sent = CartReminder.objects.filter(status=CartReminder.Status.SENT, sent_at__gte=since)
    return {
        "sent": sent.count(),
        "restored": sent.filter(restored_at__isnull=False).count(),
        "converted": sent.filter(converted_at__isnull=False).count(),
    }


# --- services ----------------------------------------------------------------------------------


@transaction.atomic
def cart_reminders_claim(*, cart_ids: Sequence[int], sequence: int) -> list[int]:
    """Create reminder `sequence` for each cart still eligible, and queue the sends on commit.

    Precondition: the carts came from the matching selector. They are re-checked under lock
    (open, and for a first reminder never reminded), so a cart ordered or claimed by a concurrent
    run in between is left out. Returns the ids of the reminders created.
    """
    now = timezone.now()
    carts = Cart.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        pk__in=cart_ids, status=Cart.Status.OPEN
    )
    if sequence == 1:
        carts = carts.filter(reminder_sent_at__isnull=True)
    locked = list(carts.values_list("pk", "customer_id"))
    if not locked:
        return []
    CartReminder.objects.bulk_create(
        [
            CartReminder(cart_id=pk, customer_id=customer_id, sequence=sequence, created_at=now)
            for pk, customer_id in locked
        ],
        ignore_conflicts=True,
    )
    if sequence == 1:
        # Takes the cart out of the recovery index: it is never selected for a first reminder again.
        Cart.objects.filter(pk__in=[pk for pk, _ in locked]).update(reminder_sent_at=now)
    ids = list(
        CartReminder.objects.filter(
            cart_id__in=[pk for pk, _ in locked], sequence=sequence, status=CartReminder.Status.PENDING
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if ids:
        task_enqueue_on_commit(app.signature(CART_REMINDERS_TASK), ids)
    return ids


def cart_reminders_send(*, reminder_ids: Sequence[int]) -> SendOutcome:
    """Mail the given reminders that are not sent yet (see orders.notifications.ledger)."""
    return send_ledgered(model=CartReminder, ids=reminder_ids, build=_reminder_message, related=("customer", "cart"))


def _reminder_message(reminder: CartReminder) -> EmailMultiAlternatives:
    items = list(CartItem.objects.filter(cart_id=reminder.cart_id).select_related("variant__product").order_by("pk"))
    unsubscribe = unsubscribe_url(customer_id=reminder.customer_id, kind=EmailOptOut.Kind.CART)
    subject = "You left something in your cart" if reminder.sequence == 1 else "Your cart is still waiting for you"
    return render_email(
        template="cart_reminder",
        subject=subject,
        to=reminder.customer.email,
        message_id=f"cart-reminder-{reminder.pk}",
        context={
            "customer": reminder.customer,
            "items": items,
            "second": reminder.sequence == 2,
            "restore_url": cart_restore_url(cart_id=reminder.cart_id, reminder_id=reminder.pk),
            "unsubscribe_url": unsubscribe,
        },
        headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


def cart_conversions_record(*, now: datetime | None = None, window: timedelta = timedelta(days=30)) -> int:
    """Mark sent reminders whose cart was ordered, or whose customer ordered, after the send."""
    now = now or timezone.now()
    converted = Q(cart__status=Cart.Status.ORDERED) | Q(
        Exists(Order.objects.filter(customer_id=OuterRef("customer_id"), created_at__gte=OuterRef("sent_at")))
    )
    return (
        CartReminder.objects.filter(
            status=CartReminder.Status.SENT, converted_at__isnull=True, sent_at__gte=now - window
        )
        .filter(converted)
        .update(converted_at=now)
    )


def cart_recovery_run(*, now: datetime | None = None, batch_size: int = CART_BATCH_SIZE) -> dict[str, int]:
    """The beat job: claim due first and second reminders batch by batch, record conversions."""
    now = now or timezone.now()
    first = second = 0
    for cart_ids in _walk(carts_due_first_reminder, now=now, batch_size=batch_size):
        first += len(cart_reminders_claim(cart_ids=cart_ids, sequence=1))
    for reminder_ids in _walk(reminders_due_second, now=now, batch_size=batch_size):
        cart_ids = list(CartReminder.objects.filter(pk__in=reminder_ids).values_list("cart_id", flat=True))
        second += len(cart_reminders_claim(cart_ids=cart_ids, sequence=2))
    return {"first_reminders": first, "second_reminders": second, "conversions": cart_conversions_record(now=now)}


@transaction.atomic
def cart_restore(*, token: str) -> Cart:
    """Reopen the cart a signed reminder link points at, record the click and touch the cart.

    Raises InvalidInput for an altered or expired link, NotFound when the cart is gone.
    """
    request = read_cart_restore_token(token)
    cart = Cart.objects.select_for_update(of=("self",)).select_related("customer").filter(pk=request.cart_id).first()
    if cart is None:
        raise NotFound("This cart no longer exists — it may have been ordered or emptied.")
    now = timezone.now()
    CartReminder.objects.filter(pk=request.reminder_id, cart=cart, restored_at__isnull=True).update(restored_at=now)
    # The customer came back to this cart: touching it is what `reminders_due_second` reads as
    # "in use again since the first reminder", so no second reminder follows the click.
    cart.updated_at = now
    update_fields = ["updated_at"]
    if cart.status == Cart.Status.ABANDONED:
        cart.status = Cart.Status.OPEN
        update_fields.append("status")
    cart.save(update_fields=update_fields)
    return cart
