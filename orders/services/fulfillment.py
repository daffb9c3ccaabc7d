"""Fulfillments: the tracking status staff or an import move a parcel through."""

from __future__ import annotations

from django.db import transaction

from orders.models import Fulfillment
from orders.notifications.shipment import tracking_status_changed
from supportbot.errors import InvalidInput, NotFound


@transaction.atomic
def fulfillment_set_tracking_status(*, fulfillment_id: int, status: str) -> Fulfillment:
    """Set a fulfillment's tracking status; the customer is emailed once the change commits.

    `status` is one of Fulfillment.TrackingStatus or "" (clears it, no email). Setting the
    status it already has changes nothing and sends nothing.
    """
    if status and status not in Fulfillment.TrackingStatus.values:
        allowed = ", ".join(Fulfillment.TrackingStatus.values)
        raise InvalidInput(f"Unknown tracking status {status!r}; use one of: {allowed}.")
    # Locked so two concurrent changes each see the status the other left, and each real
    # change is reported exactly once.
    fulfillment = Fulfillment.objects.select_for_update().filter(pk=fulfillment_id).first()
    if fulfillment is None:
        raise NotFound(f"We couldn't find shipment {fulfillment_id}.")
    previous = fulfillment.tracking_status
    if previous != status:
        fulfillment.tracking_status = status
        fulfillment.save(update_fields=["tracking_status"])
        tracking_status_changed(fulfillment_id=fulfillment.pk, previous=previous, current=status)
    return fulfillment
