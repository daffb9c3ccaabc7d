"""Tool results as cards: what a product or order lookup returned, shown to the customer.

Cards are chosen by the shape of the result (tau-bench records), not by tool name, so a new
tool returning an order or a product gets the same card. Anything else renders nothing: the
assistant's answer already says what matters in words.
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


def _is_product(value: Any) -> bool:
    return isinstance(value, dict) and "product_id" in value and isinstance(value.get("variants"), dict | list)


def _is_order(value: Any) -> bool:
    return isinstance(value, dict) and "order_id" in value and "status" in value


def _product_card(product: dict[str, Any]) -> dict[str, Any]:
    variants = product.get("variants") or {}
    rows = list(variants.values()) if isinstance(variants, dict) else list(variants)
    items = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        options = row.get("options") or {}
        label = (
            ", ".join(f"{key}: {value}" for key, value in options.items())
            if isinstance(options, dict)
            else str(options)
        )
        items.append(
            {
                "item_id": str(row.get("item_id", "")),
                "options": label,
                "price": row.get("price"),
                "available": bool(row.get("available")),
            }
        )
    return {"name": product.get("name", ""), "product_id": product.get("product_id", ""), "items": items}


def _order_card(order: dict[str, Any]) -> dict[str, Any]:
    tracking = []
    for fulfillment in order.get("fulfillments") or []:
        if isinstance(fulfillment, dict):
            ids = fulfillment.get("tracking_id") or fulfillment.get("tracking_ids") or []
            tracking += [str(value) for value in (ids if isinstance(ids, list) else [ids])]
    items = [item for item in order.get("items") or [] if isinstance(item, dict)]
    return {
        "order_id": str(order.get("order_id", "")),
        "status": str(order.get("status", "")),
        "items": [
            {
                "name": item.get("name", ""),
                "options": ", ".join(f"{k}: {v}" for k, v in (item.get("options") or {}).items()),
                "price": item.get("price"),
            }
            for item in items
        ],
        "tracking": tracking,
    }


@register.simple_tag
def tool_card(message: Any) -> dict[str, Any] | None:
    """`{% tool_card message as card %}`: {"orders": [...], "products": [...]} or None."""
    payload = message.tool_result
    if not isinstance(payload, dict) or not payload.get("ok") or "action_id" in payload:
        return None
    result = payload.get("result")
    candidates: list[Any] = []
    if isinstance(result, list):
        candidates = result
    elif isinstance(result, dict):
        nested = result.get("products") or result.get("orders") or result.get("results")
        candidates = nested if isinstance(nested, list) else [result]
    products = [_product_card(value) for value in candidates if _is_product(value)][:5]
    orders = [_order_card(value) for value in candidates if _is_order(value)][:5]
    if not products and not orders:
        return None
    return {"products": products, "orders": orders}


@register.filter
def words(value: Any) -> str:
    """ "track_order" → "track order" (intents and statuses as plain words)."""
    return str(value or "").replace("_", " ")
