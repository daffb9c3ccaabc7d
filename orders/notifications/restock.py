"""Back-in-stock alerts: detect a restock, claim every waiting subscription once, mail it.

Flow: a stock change from 0 to more than 0 calls `restock_detected` inside the caller's
transaction; it records a RestockEvent and, on commit, queues `orders.dispatch_restock_alerts`.
The dispatcher claims active subscriptions of the variant in batches — one transaction per batch
creates their RestockNotification rows (unique per subscription and event) and closes the
subscriptions — then queues one `orders.send_restock_alerts` task per batch on the email queue.
Each send goes through orders.notifications.ledger, which holds the row's claim across the send.

Why a subscription is closed at claim time rather than after the send: two restocks in quick
succession (0 → 5 → 0 → 3) create two events whose dispatchers may run at once. Closing under
the row lock means the second dispatcher no longer sees the subscription as active, so the
customer gets one alert, not one per event.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from orders.models import EmailOptOut, RestockEvent, RestockNotification, RestockSubscription, Variant
from orders.notifications.ledger import SendOutcome, render_email, send_ledgered
from orders.notifications.links import unsubscribe_url
from supportbot.celery import app
from supportbot.services import task_enqueue, task_enqueue_on_commit

logger = logging.getLogger(__name__)

# Queued by name: orders.tasks imports the services these tasks call.
DISPATCH_TASK = "orders.dispatch_restock_alerts"
SEND_TASK = "orders.send_restock_alerts"


def restock_detected(*, variant_id: int, previous: int, current: int) -> RestockEvent | None:
    """Call after changing a variant's stock, inside the same transaction. A no-op unless 0 → >0.

    The event row commits or rolls back with the stock change; the dispatch task is queued only
    after commit, so a worker never looks for an event that does not exist (yet).
    """
    if previous > 0 or current <= 0:
        return None
    event = RestockEvent.objects.create(variant_id=variant_id, previous_quantity=previous, new_quantity=current)
    _dispatch_on_commit(event.pk)
    return event


def restocks_detect(*, variant_ids: Iterable[int]) -> list[RestockEvent]:
    """Bulk writers (import_shop): report each of `variant_ids` now available while customers wait.

    Call inside the writer's transaction, after the stock is written. A subscription only exists
    while its variant is unavailable, so an available variant with active subscriptions is one
    that came back in stock (the previous quantity is reported as 0).
    """
    waiting = (
        Variant.objects.filter(
            pk__in=list(variant_ids),
            active=True,
            stock_quantity__gt=0,
            restock_subscriptions__status=RestockSubscription.Status.ACTIVE,
        )
        .distinct()
        .values_list("pk", "stock_quantity")
    )
    events = [restock_detected(variant_id=pk, previous=0, current=quantity) for pk, quantity in waiting]
    return [event for event in events if event is not None]


def _dispatch_on_commit(event_id: int) -> None:
    task_enqueue_on_commit(app.signature(DISPATCH_TASK), event_id)


def _send_on_commit(notification_ids: list[int]) -> None:
    task_enqueue_on_commit(app.signature(SEND_TASK), notification_ids)


class RestockAlertDispatcher:
    """Turns one restock event into alerts: claims subscriptions in batches and queues the sends."""

    def __init__(self, *, batch_size: int | None = None) -> None:
        self.batch_size = batch_size or settings.RESTOCK_BATCH_SIZE

    def dispatch(self, event_id: int) -> int:
        """Claim every active subscription of the event's variant. Returns how many were claimed.

        Safe to run twice or concurrently for one event (a redelivered task, the sweep): claimed
        subscriptions are closed and locked rows are skipped, so each is claimed exactly once.
        """
        event = RestockEvent.objects.select_related("variant").filter(pk=event_id).first()
        if event is None:
            return 0
        claimed = 0
        while True:
            batch = self.claim_batch(event)
            if not batch:
                break
            claimed += len(batch)
        if event.dispatched_at is None:
            RestockEvent.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
        return claimed

    @transaction.atomic
    def claim_batch(self, event: RestockEvent) -> list[int]:
        """Claim up to batch_size active subscriptions: ledger rows created, subscriptions closed.

        Subscriptions of customers who opted out of restock alerts are closed without an alert.
        Returns the ids of the notifications to send (queued on commit).
        """
        # SKIP LOCKED: a concurrent dispatcher (another event, the sweep) takes other rows instead
        # of waiting; READ COMMITTED re-checks status='active' on each row it does lock.
        subscriptions = list(
            RestockSubscription.objects.select_for_update(skip_locked=True)
            .filter(variant_id=event.variant_id, status=RestockSubscription.Status.ACTIVE)
            .order_by("pk")[: self.batch_size]
        )
        if not subscriptions:
            return []
        opted_out = set(
            EmailOptOut.objects.filter(
                kind=EmailOptOut.Kind.RESTOCK, customer_id__in={s.customer_id for s in subscriptions}
            ).values_list("customer_id", flat=True)
        )
        now = timezone.now()
        to_alert = [s for s in subscriptions if s.customer_id not in opted_out]
        RestockNotification.objects.bulk_create(
            [
                RestockNotification(subscription=s, event=event, customer_id=s.customer_id, created_at=now)
                for s in to_alert
            ],
            ignore_conflicts=True,
        )
        RestockSubscription.objects.filter(pk__in=[s.pk for s in to_alert]).update(
            status=RestockSubscription.Status.CLOSED, closed_at=now, notified_at=now
        )
        RestockSubscription.objects.filter(pk__in=[s.pk for s in subscriptions if s.customer_id in opted_out]).update(
            status=RestockSubscription.Status.CLOSED, closed_at=now
        )
        ids = list(
            RestockNotification.objects.filter(event=event, subscription_id__in=[s.pk for s in to_alert])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if ids:
            _send_on_commit(ids)
        return [s.pk for s in subscriptions]

    def send(self, notification_ids: Sequence[int]) -> SendOutcome:
        """Mail the given notifications that are not sent yet (see orders.notifications.ledger)."""
        return send_ledgered(
            model=RestockNotification,
            ids=notification_ids,
            build=self.build_message,
            related=("customer", "event__variant__product"),
        )

    def _product_url(self, product_id: str) -> str:
        # One restock is one product: reverse its URL once per dispatcher, not once per email.
        cache: dict[str, str] = self.__dict__.setdefault("_product_urls", {})
        if product_id not in cache:
            cache[product_id] = settings.SITE_URL + reverse("orders:product", args=[product_id])
        return cache[product_id]

    def build_message(self, notification: RestockNotification) -> EmailMultiAlternatives:
        variant: Variant = notification.event.variant
        customer = notification.customer
        unsubscribe = unsubscribe_url(customer_id=customer.pk, kind=EmailOptOut.Kind.RESTOCK)
        return render_email(
            template="back_in_stock",
            subject=f"{variant.product.name} is back in stock",
            to=customer.email,
            message_id=f"restock-{notification.pk}",
            context={
                "customer": customer,
                "variant": variant,
                "product_url": self._product_url(variant.product.product_id),
                "unsubscribe_url": unsubscribe,
            },
            # RFC 8058 one-click unsubscribe: mail clients POST to the link themselves.
            headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        )


def restock_sweep(*, stale_after: timedelta = timedelta(minutes=10)) -> dict[str, int]:
    """Catch what a crash or a missed hook left behind. Run periodically by beat.

    - events not fully dispatched `stale_after` after detection are dispatched again;
    - notifications still pending after `stale_after` get their send queued again (the worker
      holding them died before the broker redelivered; a duplicate task is harmless);
    - variants that are available yet still have active subscriptions (stock changed by a path
      that did not call restock_detected, e.g. raw SQL) get a new event.
    """
    cutoff = timezone.now() - stale_after
    redispatched = 0
    for event_id in RestockEvent.objects.filter(dispatched_at__isnull=True, detected_at__lte=cutoff).values_list(
        "pk", flat=True
    ):
        _queue_dispatch(event_id)
        redispatched += 1
    pending = list(
        RestockNotification.objects.filter(status=RestockNotification.Status.PENDING, created_at__lte=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    batch_size = settings.RESTOCK_BATCH_SIZE
    for start in range(0, len(pending), batch_size):
        task_enqueue(app.signature(SEND_TASK), pending[start : start + batch_size])
    waiting_variants = RestockSubscription.objects.filter(
        status=RestockSubscription.Status.ACTIVE,
        variant__active=True,
        variant__stock_quantity__gt=0,
        created_at__lte=cutoff,
    ).values_list("variant_id", flat=True)
    with transaction.atomic():
        missed = len(restocks_detect(variant_ids=set(waiting_variants)))
    return {"redispatched_events": redispatched, "requeued_notifications": len(pending), "missed_variants": missed}


def _queue_dispatch(event_id: int) -> None:
    task_enqueue(app.signature(DISPATCH_TASK), event_id)
