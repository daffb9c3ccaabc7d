"""Writes of the orders app. Each service is atomic and refuses bad input with a domain error.

`retail` holds the tau-bench retail actions on orders, `accounts` customer sign-up and
addresses, `stock` stock levels and back-in-stock subscriptions, `exchange` staff approval of
a requested exchange; shared locks and rules are in `_common`. Import services from here.
"""

from orders.services._common import money
from orders.services.accounts import customer_login_ensure, customer_modify_address, customer_sign_up
from orders.services.exchange import order_exchange_approve
from orders.services.fulfillment import fulfillment_set_tracking_status
from orders.services.retail import (
    order_cancel,
    order_exchange_items,
    order_modify_address,
    order_modify_items,
    order_modify_payment,
    order_return_items,
    order_return_receive,
)
from orders.services.stock import (
    restock_notes_mark_seen,
    restock_subscription_cancel,
    restock_subscription_create,
    variant_set_stock,
)

__all__ = [
    "customer_login_ensure",
    "customer_modify_address",
    "customer_sign_up",
    "fulfillment_set_tracking_status",
    "money",
    "order_cancel",
    "order_exchange_approve",
    "order_exchange_items",
    "order_modify_address",
    "order_modify_items",
    "order_modify_payment",
    "order_return_items",
    "order_return_receive",
    "restock_notes_mark_seen",
    "restock_subscription_cancel",
    "restock_subscription_create",
    "variant_set_stock",
]
