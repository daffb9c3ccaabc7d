"""Customer emails sent by background jobs: restock alerts, cart recovery, shipment updates.

Every email is owed through a ledger row (orders/models_notifications.py) and sent by
orders.notifications.ledger, which makes a retried or duplicated task harmless. Celery tasks
live in orders/tasks.py and only call the functions re-exported here.
"""

from orders.notifications.cart_recovery import (
    cart_conversions_record,
    cart_recovery_run,
    cart_recovery_stats,
    cart_reminders_claim,
    cart_reminders_send,
    cart_restore,
    carts_due_first_reminder,
    carts_due_first_reminder_queryset,
    reminders_due_second,
)
from orders.notifications.ledger import SendOutcome, send_ledgered
from orders.notifications.links import read_unsubscribe_token, unsubscribe_url
from orders.notifications.preferences import email_opt_out_create, email_opted_out
from orders.notifications.restock import RestockAlertDispatcher, restock_detected, restock_sweep, restocks_detect
from orders.notifications.shipment import shipment_notification_send, tracking_status_changed

__all__ = [
    "RestockAlertDispatcher",
    "SendOutcome",
    "cart_conversions_record",
    "cart_recovery_run",
    "cart_recovery_stats",
    "cart_reminders_claim",
    "cart_reminders_send",
    "cart_restore",
    "carts_due_first_reminder",
    "carts_due_first_reminder_queryset",
    "email_opt_out_create",
    "email_opted_out",
    "read_unsubscribe_token",
    "reminders_due_second",
    "restock_detected",
    "restock_sweep",
    "restocks_detect",
    "send_ledgered",
    "shipment_notification_send",
    "tracking_status_changed",
    "unsubscribe_url",
]
