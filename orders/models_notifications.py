"""Ledgers of the customer emails sent by background jobs, and the customers' opt-outs.

Each ledger row is the claim on one irreversible send: its unique key (subscription and restock
event, cart and reminder number, fulfillment and tracking status) means a job that runs twice —
a retried task, a second worker, the periodic sweep — finds the row already there and never
mails twice. A row moves pending → sent, or pending → failed when the mail server refused it
(failed rows are retried; sent rows never are). See orders/notifications/ledger.py for how the
claim is held across the send.

Imported at the bottom of orders/models.py so Django registers these models with the app.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class EmailLedgerEntry(models.Model):
    """One email owed to a customer, and what became of it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def sendable(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.FAILED)


class RestockEvent(models.Model):
    """A variant came back in stock (its quantity went from 0 to more than 0)."""

    variant = models.ForeignKey("orders.Variant", on_delete=models.CASCADE, related_name="restock_events")
    previous_quantity = models.PositiveIntegerField()
    new_quantity = models.PositiveIntegerField()
    detected_at = models.DateTimeField(default=timezone.now)
    # Set when no active subscription of the variant was left to claim; the sweep re-dispatches
    # events still open after a while (a worker died between batches).
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["detected_at"], condition=Q(dispatched_at__isnull=True), name="restock_event_open")
        ]

    def __str__(self) -> str:
        return f"Restock of variant {self.variant_id} at {self.detected_at:%Y-%m-%d %H:%M}"


class RestockNotification(EmailLedgerEntry):
    """The back-in-stock alert for one subscription and one restock event; also the portal note."""

    subscription = models.ForeignKey(
        "orders.RestockSubscription", on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.ForeignKey(RestockEvent, on_delete=models.CASCADE, related_name="notifications")
    customer = models.ForeignKey("orders.Customer", on_delete=models.CASCADE, related_name="restock_notifications")
    # The portal note: shown until the customer has seen it.
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscription", "event"], name="restock_notification_once")]
        indexes = [models.Index(fields=["status", "created_at"], name="restock_notification_status")]

    def __str__(self) -> str:
        return f"Restock alert for subscription {self.subscription_id} ({self.status})"


class CartReminder(EmailLedgerEntry):
    """Reminder number `sequence` (1 or 2) about an abandoned cart."""

    cart = models.ForeignKey("orders.Cart", on_delete=models.CASCADE, related_name="reminders")
    customer = models.ForeignKey("orders.Customer", on_delete=models.CASCADE, related_name="cart_reminders")
    sequence = models.PositiveSmallIntegerField()
    # The customer opened the signed restore link.
    restored_at = models.DateTimeField(null=True, blank=True)
    # The cart was ordered (or the customer placed an order) after this reminder went out.
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cart", "sequence"], name="cart_reminder_once"),
            models.CheckConstraint(condition=Q(sequence__in=[1, 2]), name="cart_reminder_sequence_1_or_2"),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="cart_reminder_status"),
            # The second-reminder selection walks sent first reminders by send time.
            models.Index(fields=["sequence", "sent_at"], name="cart_reminder_sequence_sent"),
        ]

    def __str__(self) -> str:
        return f"Reminder {self.sequence} for cart {self.cart_id} ({self.status})"


class ShipmentNotification(EmailLedgerEntry):
    """The email telling a customer their parcel reached `tracking_status`."""

    fulfillment = models.ForeignKey("orders.Fulfillment", on_delete=models.CASCADE, related_name="notifications")
    tracking_status = models.CharField(max_length=30)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fulfillment", "tracking_status"], name="shipment_notification_once")
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="shipment_notification_status")]

    def __str__(self) -> str:
        return f"Shipment update {self.tracking_status} for fulfillment {self.fulfillment_id} ({self.status})"


class EmailOptOut(models.Model):
    """A customer clicked "unsubscribe" on one kind of email."""

    class Kind(models.TextChoices):
        RESTOCK = "restock", "Back-in-stock alerts"
        CART = "cart", "Cart reminders"

    customer = models.ForeignKey("orders.Customer", on_delete=models.CASCADE, related_name="email_opt_outs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "kind"], name="email_opt_out_once")]

    def __str__(self) -> str:
        return f"{self.customer_id} opted out of {self.kind}"
