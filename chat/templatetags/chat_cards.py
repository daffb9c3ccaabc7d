"""Tool results as cards: what a product or order lookup returned, shown to the customer.

Cards are chosen by the shape of the result (tau-bench records), not by tool name, so a new
tool returning an order or a product gets the same card. Anything else renders nothing: the
assistant's answer already says what matters in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

from chat.portal_selectors import Counterpart
from chat.portal_selectors import conversation_counterpart as counterpart_of
from orders import selectors as order_selectors
from supportbot.errors import NotFound

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


# --- confirmation cards ------------------------------------------------------------------------
#
# A card shows what will change in the customer's words: items by name and options with prices,
# amounts and where money goes, the address — read from the store for the action's arguments,
# never the tool's ids. Buttons say what they do. Unknown tools fall back to the description.


@dataclass
class CardItem:
    name: str
    options: str
    price: Decimal | None
    new_options: str = ""
    new_price: Decimal | None = None
    stays: bool = False


@dataclass
class ActionCard:
    title: str
    confirm_label: str = "Confirm"
    decline_label: str = "Don't do it"
    done_text: str = "Done."
    declined_text: str = "Nothing was changed."
    items_heading: str = ""
    items: list[CardItem] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)


_BUTTONS: dict[str, tuple[str, str, str, str]] = {
    # tool: (confirm, decline, what is done, what stays when declined)
    "cancel_pending_order": (
        "Yes, cancel the order",
        "Keep my order",
        "Order {order} is cancelled.",
        "Nothing was changed. Order {order} stays as it is.",
    ),
    "modify_pending_order_address": (
        "Yes, change the address",
        "Keep the current address",
        "Order {order} will ship to the new address.",
        "Nothing was changed. Order {order} keeps its address.",
    ),
    "modify_pending_order_payment": (
        "Yes, change the payment",
        "Keep the current payment",
        "Order {order} is paid with the new method.",
        "Nothing was changed. Order {order} keeps its payment.",
    ),
    "modify_pending_order_items": (
        "Yes, change these items",
        "Keep my items",
        "The items of order {order} are changed.",
        "Nothing was changed. Order {order} keeps its items.",
    ),
    "return_delivered_order_items": (
        "Yes, return these items",
        "Don't return anything",
        "Return requested. We've emailed you how to send the items back.",
        "Nothing was changed. No return was requested.",
    ),
    "exchange_delivered_order_items": (
        "Yes, exchange these items",
        "Don't exchange anything",
        "Exchange requested. We've emailed you how to send the items back.",
        "Nothing was changed. No exchange was requested.",
    ),
    "modify_user_address": (
        "Yes, change my address",
        "Keep my address",
        "Your default address is changed.",
        "Nothing was changed. Your address stays as it is.",
    ),
}


def _money(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def _options_words(options: Any) -> str:
    if isinstance(options, dict):
        return ", ".join(f"{key}: {value}" for key, value in options.items())
    return str(options or "")


def _address_words(arguments: dict[str, Any]) -> str:
    region = f"{arguments.get('state', '')} {arguments.get('zip', '')}".strip()
    parts = [
        arguments.get("address1"),
        arguments.get("address2"),
        arguments.get("city"),
        region,
        arguments.get("country"),
    ]
    return ", ".join(str(part) for part in parts if part)


def _method_words(customer: Any, payment_method_id: Any, *, with_timing: bool = False) -> str:
    """ "Visa ending 1234" (and, for a refund, when it lands: gift cards at once, others in days)."""
    method = order_selectors.payment_method_for(customer=customer, payment_method_id=str(payment_method_id or ""))
    words = method.label if method is not None else "your chosen payment method"
    if not with_timing:
        return words
    return f"{words} {'right away' if method is not None and method.is_gift_card else 'within 5–7 business days'}"


def _ordered_items(record: dict[str, Any], item_ids: list[Any]) -> list[CardItem]:
    held = {str(item.get("item_id")): item for item in record.get("items") or [] if isinstance(item, dict)}
    items = []
    for item_id in item_ids:
        item = held.get(str(item_id))
        if item is None:
            items.append(CardItem(name="An item not in this order", options="", price=None))
            continue
        items.append(
            CardItem(
                name=str(item.get("name", "")),
                options=_options_words(item.get("options")),
                price=_money(item.get("price")),
            )
        )
    return items


def _swapped_items(
    record: dict[str, Any], item_ids: list[Any], new_item_ids: list[Any]
) -> tuple[list[CardItem], Decimal]:
    items, difference = [], Decimal("0")
    for old, new_id in zip(_ordered_items(record, item_ids), new_item_ids, strict=False):
        new = order_selectors.variant_with_product(str(new_id))
        if new is None or new.options_label == old.options:
            items.append(CardItem(name=old.name, options=old.options, price=old.price, stays=new is not None))
            continue
        old.new_options, old.new_price = new.options_label, _money(new.price)
        difference += (old.new_price or Decimal("0")) - (old.price or Decimal("0"))
        items.append(old)
    return items, difference


def _difference_fact(difference: Decimal, method: str) -> tuple[str, str]:
    if difference > 0:
        return ("You pay", f"${difference:.2f} more, charged to {method}")
    if difference < 0:
        return ("Refund", f"${-difference:.2f} to {method}")
    return ("Price", "No price difference")


def _fill(card: ActionCard, tool: str, arguments: dict[str, Any], customer: Any) -> None:
    order_id = str(arguments.get("order_id", ""))
    if tool == "modify_user_address":
        card.facts.append(("New address", _address_words(arguments)))
        return
    if tool == "modify_pending_order_address":
        card.facts.append(("Ship to", _address_words(arguments)))
        return
    record = order_selectors.order_details(order_id, customer=customer)
    if tool == "cancel_pending_order":
        card.items_heading = "Items"
        card.items = _ordered_items(record, [item.get("item_id") for item in record.get("items") or []])
        if arguments.get("reason"):
            card.facts.append(("Reason", str(arguments["reason"]).capitalize()))
        for payment in record.get("payment_history") or []:
            if payment.get("transaction_type") == "payment":
                method_id = payment.get("payment_method_id")
                card.facts.append(
                    (
                        "Refund",
                        f"${_money(payment.get('amount'))} to {_method_words(customer, method_id, with_timing=True)}",
                    )
                )
    elif tool == "modify_pending_order_payment":
        current = next((p for p in record.get("payment_history") or [] if p.get("transaction_type") == "payment"), None)
        if current is not None:
            card.facts.append(("Now paid with", _method_words(customer, current.get("payment_method_id"))))
        card.facts.append(("Pay with", _method_words(customer, arguments.get("payment_method_id"))))
    elif tool == "return_delivered_order_items":
        item_ids = list(arguments.get("item_ids") or [])
        card.items_heading = "Items to send back"
        card.items = _ordered_items(record, item_ids)
        total = sum((item.price or Decimal("0") for item in card.items), Decimal("0"))
        method_id = arguments.get("payment_method_id")
        card.facts.append(("Refund", f"${total:.2f} to {_method_words(customer, method_id)} once the items arrive"))
    elif tool in ("exchange_delivered_order_items", "modify_pending_order_items"):
        card.items_heading = "Items to exchange" if tool.startswith("exchange") else "Items to change"
        card.items, difference = _swapped_items(
            record, list(arguments.get("item_ids") or []), list(arguments.get("new_item_ids") or [])
        )
        card.facts.append(_difference_fact(difference, _method_words(customer, arguments.get("payment_method_id"))))
        if tool == "modify_pending_order_items":
            card.facts.append(("Note", "Items of an order can be changed only once."))


_TITLES = {
    "cancel_pending_order": "Cancel order {order}",
    "modify_pending_order_address": "Change the shipping address of order {order}",
    "modify_pending_order_payment": "Change the payment of order {order}",
    "modify_pending_order_items": "Change items in order {order}",
    "return_delivered_order_items": "Return items from order {order}",
    "exchange_delivered_order_items": "Exchange items from order {order}",
    "modify_user_address": "Change your default address",
}


@register.simple_tag
def action_card(action: Any) -> ActionCard:
    """`{% action_card action as card %}`: what a confirmation card shows, in the customer's words."""
    arguments = action.arguments if isinstance(action.arguments, dict) else {}
    order_id = str(arguments.get("order_id", ""))
    title = _TITLES.get(action.tool)
    if title is None:
        return ActionCard(title=action.description)
    confirm, decline, done, declined = _BUTTONS[action.tool]
    card = ActionCard(
        title=title.format(order=order_id),
        confirm_label=confirm,
        decline_label=decline,
        done_text=done.format(order=order_id),
        declined_text=declined.format(order=order_id),
    )
    try:
        _fill(card, action.tool, arguments, action.customer)
    except NotFound:
        # The order is gone or not theirs: the title and the assistant's description still say what was asked.
        card.facts = [("Details", action.description)]
    return card


@register.filter
def without_card_text(text: str, actions: Any) -> str:
    """The message text with a card's description it repeats word for word pointed to the card instead.

    "Here's what I'll do: Cancel order #W1 — 2 items, $39.98, …" above a card that lists the same
    items and refund reads as the same thing twice; "Here's what I'll do: see the card below." doesn't.
    """
    result = text or ""
    for action in actions or []:
        description = (getattr(action, "description", "") or "").strip().rstrip(".")
        if description and description in result:
            result = result.replace(description, "see the card below")
    return result


@register.simple_tag
def conversation_counterpart(conversation: Any) -> Counterpart:
    """`{% conversation_counterpart conversation as counterpart %}`: who answers now, read fresh.

    For the partial a finished turn sends: the turn may have handed the conversation to a person,
    and the heading and quick replies on the page must follow.
    """
    return counterpart_of(conversation=conversation)
