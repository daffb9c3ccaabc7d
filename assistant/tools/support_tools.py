"""Support tools of the assistant's own: order tracking in plain terms.

(transfer_to_human_agents is registered with the store tools under its tau-bench name; its
body delegates to assistant.escalation, which opens the ticket.)
"""

from __future__ import annotations

from typing import Any

from assistant.tools.registry import ToolContext, tool
from orders import selectors


@tool(
    name="track_order",
    description="Where an order is: status, and for each shipment its carrier, tracking numbers, tracking status and items.",
    parameters={
        "type": "object",
        "properties": {"order_id": {"type": "string", "description": "The order id, such as '#W0000000'."}},
        "required": ["order_id"],
    },
)
def track_order(context: ToolContext, order_id: str) -> dict[str, Any]:
    order_id = order_id.strip()
    if order_id and not order_id.startswith("#"):
        order_id = f"#{order_id}" if order_id[:1].upper() == "W" else f"#W{order_id}"
    order = selectors.order_tracking(order_id, customer=context.customer)
    names = {item["item_id"]: item["name"] for item in order["items"]}
    shipments = [
        {
            "carrier": fulfillment["carrier"] or "unknown",
            "tracking_ids": list(fulfillment["tracking_ids"] or []),
            "tracking_status": fulfillment["tracking_status"] or "unknown",
            "items": [names.get(item_id, item_id) for item_id in fulfillment["item_ids"] or []],
        }
        for fulfillment in order["fulfillments"]
    ]
    shipped = {item_id for fulfillment in order["fulfillments"] for item_id in fulfillment["item_ids"] or []}
    return {
        "order_id": order["order_id"],
        "status": order["status"],
        "placed": order["created_at"].date().isoformat(),
        "shipments": shipments,
        "not_yet_shipped": [name for item_id, name in names.items() if item_id not in shipped],
    }
