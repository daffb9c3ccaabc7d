"""Shipment updates: one email per fulfillment and tracking status it reaches."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.urls import reverse

from orders.models import Fulfillment, OrderItem, ShipmentNotification
from orders.notifications.ledger import SendOutcome, render_email, send_ledgered
from supportbot.celery import app
from supportbot.services import task_enqueue_on_commit

# Queued by name: orders.tasks imports the services these tasks call.
SHIPMENT_UPDATE_TASK = "orders.send_shipment_update"


def tracking_status_changed(*, fulfillment_id: int, previous: str, current: str) -> None:
    """Call after changing a fulfillment's tracking status, inside the same transaction.

    Queues the customer's email once the change commits; a no-op when nothing changed or the
    status was cleared.
    """
    if not current or previous == current:
        return
    task_enqueue_on_commit(app.signature(SHIPMENT_UPDATE_TASK), fulfillment_id, current)


@transaction.atomic
def shipment_notification_claim(*, fulfillment_id: int, tracking_status: str) -> ShipmentNotification | None:
    """The ledger row for this status, created if missing. None if the fulfillment is gone.

    The status passed is the one the change reached, even if the parcel has moved on since:
    every step the customer's parcel took is worth its one email.
    """
    if not Fulfillment.objects.filter(pk=fulfillment_id).exists():
        return None
    notification, _ = ShipmentNotification.objects.get_or_create(
        fulfillment_id=fulfillment_id, tracking_status=tracking_status
    )
    return notification


def shipment_notification_send(*, fulfillment_id: int, tracking_status: str) -> SendOutcome | None:
    notification = shipment_notification_claim(fulfillment_id=fulfillment_id, tracking_status=tracking_status)
    if notification is None:
        return None
    return send_ledgered(
        model=ShipmentNotification, ids=[notification.pk], build=_message, related=("fulfillment__order__customer",)
    )


def _message(notification: ShipmentNotification) -> EmailMultiAlternatives:
    fulfillment = notification.fulfillment
    order = fulfillment.order
    status_label = (
        Fulfillment.TrackingStatus(notification.tracking_status).label
        if notification.tracking_status in Fulfillment.TrackingStatus.values
        else notification.tracking_status
    )
    names = list(
        OrderItem.objects.filter(order=order, variant__item_id__in=fulfillment.item_ids).values_list("name", flat=True)
    )
    return render_email(
        template="shipment_update",
        subject=f"Order {order.order_id}: {status_label.lower()}",
        to=order.customer.email,
        message_id=f"shipment-{notification.pk}",
        context={
            "customer": order.customer,
            "order": order,
            "fulfillment": fulfillment,
            "status_label": status_label,
            "item_names": names,
            "order_url": settings.SITE_URL + reverse("orders:detail", args=[order.order_id.lstrip("#")]),
        },
    )
