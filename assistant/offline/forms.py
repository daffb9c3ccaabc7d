"""Task forms: ask for what is missing, remember it across turns, then propose the action.

A form's `advance` runs on every turn while the form is active. It re-resolves a slot when
it is empty or when the message corrects it ("no, the other order", "the gift card
instead"), asks one question at a time, and ends with a PendingAction through the
consequential tool — the customer's "yes" executes it, never this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from assistant.actions import action_supersede
from assistant.offline.resolve import (
    Resolved,
    resolve_items,
    resolve_order,
    resolve_payment_method,
    resolve_variant,
)
from assistant.offline.turn import Turn, item_words, order_words
from assistant.types import OFFER_HUMAN
from orders.selectors import check_refund_limit_not_reached
from supportbot.errors import RuleViolation

CONFIRM_HINT = "Reply “yes” to confirm, or “no” to leave everything as it is."


def _corrects_order(turn: Turn) -> bool:
    return bool(turn.entities.order_ids or turn.entities.order_refs)


def _fill_order(turn: Turn, *, statuses: tuple[str, ...] | None, purpose: str) -> tuple[dict[str, Any] | None, str]:
    slots = turn.state.slots
    if slots.get("order_id") and not _corrects_order(turn):
        record, _ = turn.order(slots["order_id"])
        if record is not None:
            return record, ""
    result: Resolved = resolve_order(turn, statuses=statuses, purpose=purpose)
    if result.say:
        if result.refused:
            turn.state.finish()
            if result.value is not None:
                turn.state.last_order_id = result.value["order_id"]
        else:
            turn.state.asking = "order"
        return None, result.say
    order = result.value
    if slots.get("order_id") != order["order_id"]:
        # A different order: whatever was chosen for the old one no longer applies.
        for key in ("item_ids", "new_item_ids", "payment_method_id"):
            slots.pop(key, None)
        slots["order_id"] = order["order_id"]
    turn.state.last_order_id = order["order_id"]
    return order, ""


def _propose(turn: Turn, tool: str, arguments: dict[str, Any], *, intro: str = "") -> str:
    """Turn the action into a PendingAction (replacing this form's earlier proposal)."""
    previous = turn.state.proposed_action_id
    record = turn.tool(tool, **arguments)
    if previous and record.pending_action is not None and record.pending_action.pk != previous:
        if turn.request.context.customer is not None:
            action_supersede(action_id=previous, customer=turn.request.context.customer)
    if record.pending_action is None:
        turn.state.finish()
        message = (record.outcome.error or {}).get("message") or "The store refused that change."
        return f"I can't do that: {message}"
    turn.state.proposed_action_id = record.pending_action.pk
    turn.state.asking = "confirm"
    description = record.pending_action.description.rstrip(".")
    return f"{intro}Here's what I'll do: {description}.\n{CONFIRM_HINT}"


# --- cancel ---------------------------------------------------------------------------------

REASON_QUESTION = "Could you tell me why you'd like to cancel order {order_id} — is it no longer needed, or was it ordered by mistake?"


def _refund_limit_refusal(turn: Turn) -> str:
    """The refund-limit refusal, said before any question is asked ("" when refunds are open).

    Its wording offers a person, so the offer is remembered for the customer's "yes".
    """
    customer = turn.request.context.customer
    if customer is None:
        return ""
    try:
        check_refund_limit_not_reached(customer=customer)
    except RuleViolation as exc:
        turn.state.finish()
        turn.state.offer = {"kind": "human"}
        return exc.message
    return ""


def advance_cancel(turn: Turn) -> str:
    order, say = _fill_order(turn, statuses=("pending",), purpose="cancelled")
    if order is None:
        return say
    refusal = _refund_limit_refusal(turn)
    if refusal:
        return refusal
    slots = turn.state.slots
    if turn.entities.reasons:
        slots["reason"] = turn.entities.reasons[0]
    if not slots.get("reason"):
        turn.state.asking = "reason"
        return REASON_QUESTION.format(order_id=order["order_id"])
    return _propose(turn, "cancel_pending_order", {"order_id": order["order_id"], "reason": slots["reason"]})


# --- return ---------------------------------------------------------------------------------


def advance_return(turn: Turn) -> str:
    order, say = _fill_order(turn, statuses=("delivered",), purpose="returned")
    if order is None:
        return say
    refusal = _refund_limit_refusal(turn)
    if refusal:
        return refusal
    slots = turn.state.slots
    names_items = bool(
        turn.entities.products or turn.entities.item_ids or re.search(r"\b(?:all|both|everything)\b", turn.text, re.I)
    )
    if not slots.get("item_ids") or (names_items and turn.state.asking != "payment"):
        items = resolve_items(turn, order, purpose="to return")
        if items.say:
            turn.state.asking = "items"
            return items.say
        slots["item_ids"] = items.value
    if not slots.get("payment_method_id") or turn.entities.payment_methods:
        method = resolve_payment_method(turn, order, allowed="refund", purpose="the refund go to")
        if method.say:
            turn.state.asking = "payment"
            return method.say
        slots["payment_method_id"] = method.value
    return _propose(
        turn,
        "return_delivered_order_items",
        {"order_id": order["order_id"], "item_ids": slots["item_ids"], "payment_method_id": slots["payment_method_id"]},
    )


# --- exchange (delivered) and item change (pending) --------------------------------------------


def _advance_swap(turn: Turn, *, statuses: tuple[str, ...], purpose: str, tool: str) -> str:
    order, say = _fill_order(turn, statuses=statuses, purpose=purpose)
    if order is None:
        return say
    slots = turn.state.slots
    if not slots.get("item_ids") or turn.entities.item_ids:
        items = resolve_items(turn, order, purpose=f"to {'exchange' if 'exchange' in tool else 'change'}", single=True)
        if items.say:
            turn.state.asking = "items"
            return items.say
        slots["item_ids"] = items.value
        slots.pop("new_item_ids", None)
    item = next(i for i in order["items"] if i["item_id"] == slots["item_ids"][0])
    if not slots.get("new_item_ids") or turn.entities.sizes or turn.entities.options:
        product_record = turn.tool("get_product_details", product_id=item["product_id"])
        if not product_record.outcome.ok:
            turn.state.finish()
            return "I couldn't look up that product right now. " + OFFER_HUMAN
        variant = resolve_variant(turn, item=item, product=product_record.outcome.result)
        if variant.say:
            if variant.refused:
                turn.state.finish()
            else:
                turn.state.asking = "variant"
            return variant.say
        slots["new_item_ids"] = [variant.value["item_id"]]
    if not slots.get("payment_method_id") or turn.entities.payment_methods:
        original = next(
            (p["payment_method_id"] for p in order["payment_history"] if p["transaction_type"] == "payment"), ""
        )
        if turn.entities.payment_methods or original not in turn.payment_methods():
            method = resolve_payment_method(turn, order, allowed="any", purpose="cover the price difference")
            if method.say:
                turn.state.asking = "payment"
                return method.say
            slots["payment_method_id"] = method.value
        else:
            slots["payment_method_id"] = original
    return _propose(
        turn,
        tool,
        {
            "order_id": order["order_id"],
            "item_ids": slots["item_ids"],
            "new_item_ids": slots["new_item_ids"],
            "payment_method_id": slots["payment_method_id"],
        },
    )


def advance_exchange(turn: Turn) -> str:
    return _advance_swap(turn, statuses=("delivered",), purpose="exchanged", tool="exchange_delivered_order_items")


def advance_change_items(turn: Turn) -> str:
    return _advance_swap(turn, statuses=("pending",), purpose="changed", tool="modify_pending_order_items")


# --- addresses -----------------------------------------------------------------------------

_STATE_ZIP = re.compile(r"^\s*([A-Za-z][A-Za-z .]*?)\s+(\d{5}(?:-\d{4})?)\s*$")
ADDRESS_FORMAT = "Please write it on one line as: street, apartment (if any), city, state zip, country — e.g. “12 Oak St, Apt 4, Austin, TX 78701, USA”."


def parse_address(text: str) -> dict[str, str] | None:
    """ "12 Oak St, Apt 4, Austin, TX 78701, USA" → the tool's address fields, or None."""
    parts = [part.strip(" .") for part in text.split(",") if part.strip(" .")]
    if len(parts) < 3:
        return None
    first = re.search(r"\d.*$", parts[0])
    if first is None:
        return None
    parts[0] = first.group(0)
    zip_at = next((i for i, part in enumerate(parts) if _STATE_ZIP.match(part)), None)
    if zip_at is None or zip_at < 2:
        return None
    match = _STATE_ZIP.match(parts[zip_at])
    assert match is not None
    country = parts[zip_at + 1] if len(parts) > zip_at + 1 else "USA"
    middle = parts[1 : zip_at - 1]
    return {
        "address1": parts[0],
        "address2": ", ".join(middle),
        "city": parts[zip_at - 1],
        "state": match.group(1).strip(),
        "country": country,
        "zip": match.group(2),
    }


def advance_order_address(turn: Turn) -> str:
    order, say = _fill_order(turn, statuses=("pending",), purpose="re-addressed")
    if order is None:
        return say
    address = parse_address(turn.text)
    if address is None:
        turn.state.asking = "address"
        return f"What's the new shipping address for order {order['order_id']}? {ADDRESS_FORMAT}"
    return _propose(turn, "modify_pending_order_address", {"order_id": order["order_id"], **address})


def advance_default_address(turn: Turn) -> str:
    customer = turn.request.context.customer
    address = parse_address(turn.text)
    if address is None or customer is None:
        turn.state.asking = "address"
        return f"What address should be your default shipping address? {ADDRESS_FORMAT}"
    return _propose(turn, "modify_user_address", {"user_id": customer.handle, **address})


# --- tracking and refunds -------------------------------------------------------------------


def advance_track(turn: Turn) -> str:
    order, say = _fill_order(turn, statuses=None, purpose="tracked")
    if order is None:
        return say
    turn.state.finish()
    record = turn.tool("track_order", order_id=order["order_id"])
    if not record.outcome.ok:
        return (record.outcome.error or {}).get("message", "I couldn't track that order.")
    return render_tracking(record.outcome.result)


def render_tracking(tracking: dict[str, Any]) -> str:
    lines = [f"Order {tracking['order_id']} (placed {tracking['placed']}) is {tracking['status']}."]
    for shipment in tracking.get("shipments", []):
        numbers = ", ".join(shipment["tracking_ids"]) or "no tracking number yet"
        lines.append(
            f"• {', '.join(shipment['items'])}: {shipment['carrier']} {numbers} — {shipment['tracking_status']}"
        )
    if tracking.get("not_yet_shipped") and tracking["status"] not in {"cancelled"}:
        lines.append(f"Not shipped yet: {', '.join(tracking['not_yet_shipped'])}.")
    return "\n".join(lines)


def advance_refund(turn: Turn) -> str:
    """ "I want a refund": cancel a pending order, return a delivered one, explain otherwise."""
    order, say = _fill_order(turn, statuses=None, purpose="refunded")
    if order is None:
        return say
    if order["status"] == "pending":
        turn.state.start("cancel", order_id=order["order_id"])
        return advance_cancel(turn)
    if order["status"] == "delivered":
        turn.state.start("return", order_id=order["order_id"])
        return advance_return(turn)
    turn.state.finish()
    return render_refund_status(order)


def advance_track_refund(turn: Turn) -> str:
    order, say = _fill_order(turn, statuses=None, purpose="checked for a refund")
    if order is None:
        return say
    turn.state.finish()
    return render_refund_status(order)


def render_refund_status(order: dict[str, Any]) -> str:
    refunds = [p for p in order.get("payment_history", []) if p["transaction_type"] == "refund"]
    if refunds:
        lines = [f"Refunds on order {order['order_id']}:"]
        for refund in refunds:
            method = refund["payment_method_id"]
            when = (
                "it is back on the gift card already"
                if method.startswith("gift_card")
                else "allow 5–7 business days for it to show"
            )
            lines.append(f"• ${refund['amount']:.2f} to {method.replace('_', ' ')} — {when}")
        return "\n".join(lines)
    if order["status"] == "return requested":
        return (
            f"The return for order {order['order_id']} is under way. The refund is issued as soon as the items reach "
            "our warehouse; we emailed you the return instructions."
        )
    return f"There's no refund on order {order_words(order)} yet."


FORMS: dict[str, Callable[[Turn], str]] = {
    "cancel": advance_cancel,
    "return": advance_return,
    "exchange": advance_exchange,
    "change_items": advance_change_items,
    "order_address": advance_order_address,
    "default_address": advance_default_address,
    "track": advance_track,
    "refund": advance_refund,
    "track_refund": advance_track_refund,
}

__all__ = ["FORMS", "item_words", "parse_address", "render_tracking"]
