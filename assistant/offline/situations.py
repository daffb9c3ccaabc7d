"""Vague and upset messages about orders, led to the concrete check or the next step.

"it never came", "charged twice??", "wrong size" name no task a form knows, and the intent
model reads them as a complaint or a policy question. Each has an obvious first check on the
customer's own records: where the open orders are, what was paid on which order, an exchange
for another size. The check comes first; a person is offered after it, with the reason kept
so the ticket (if the customer says yes) is prioritised by it.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.offline.forms import FORMS, advance_track
from assistant.offline.resolve import resolve_order, variant_listing, which_order
from assistant.offline.turn import Turn, item_words, method_id_words, order_items_words

_CHARGED = re.compile(
    r"\b(?:double|twice|two times|2 times|duplicate|extra|over)\s*-?\s*(?:charged?|charges?|billed|payments?)\b"
    r"|\b(?:charged?|billed|took (?:the )?(?:money|payment))\s+(?:me\s+)?(?:twice|two times|2 times|double|again"
    r"|too much|more than)\b|\bpaid (?:twice|two times|double)\b|\btwo (?:charges|payments)\b|\bcharged me (?:for|\$)",
    re.IGNORECASE,
)
_WRONG_SIZE = re.compile(
    r"\bwrong size\b|\b(?:does ?n'?t|do ?n'?t|did ?n'?t|does not|do not|did not|not|never)\s+fit\b"
    r"|\b(?:it'?s|they'?re|its|theyre|is|are|was|were|way|bit|little)\s+too\s+(?:small|big|large|tight|loose|short|long)\b"
    r"|\bsize (?:is|was) (?:wrong|off)\b|\b(?:need|want) (?:a |an )?(?:bigger|smaller|larger) (?:size|one)\b",
    re.IGNORECASE,
)
_NOT_ARRIVED = re.compile(
    r"\b(?:never|still (?:not|hasn'?t|haven'?t|isn'?t|no)|not yet|hasn'?t|haven'?t|has not|have not|didn'?t|did not|"
    r"isn'?t|is not|not)\s+(?:been\s+|even\s+)?(?:came|come|arrived?|here|received|got (?:it|them|here|my)|"
    r"gotten|delivered|showed up|turned up|shown up)\b|\bstill waiting\b|\bwhere(?:'s| is| are)? my (?:stuff|package|parcel|delivery)\b",
    re.IGNORECASE,
)
# Intents whose own answer fits better than an order check: a product question that says
# "too big", a policy question about parcels that never arrive in general.
_ANSWERED_ELSEWHERE = {
    "stock_check",
    "restock_alert",
    "product_inquiry",
    "product_recommendation",
    "product_comparison",
    "delivery_options",
    "delivery_period",
    "check_refund_policy",
    "check_cancellation_fee",
}


def situation_reply(turn: Turn) -> str | None:
    """The concrete check for a vague order problem, or None when the message isn't one."""
    if turn.understanding.intent in _ANSWERED_ELSEWHERE and turn.understanding.confident:
        return None
    if _CHARGED.search(turn.text):
        return charges_reply(turn)
    if _WRONG_SIZE.search(turn.text):
        return wrong_size_reply(turn)
    if _NOT_ARRIVED.search(turn.text):
        return not_arrived_reply(turn)
    return None


def _upset(turn: Turn) -> bool:
    sentiment = turn.request.sentiment
    return bool(
        (sentiment is not None and sentiment.score <= -0.3)
        or re.search(r"\b(?:wtf|wth|ffs|ridiculous|unacceptable|still)\b|!{2,}|\?{2,}", turn.text, re.IGNORECASE)
    )


def _offer_person(turn: Turn, reason: str) -> str:
    turn.state.offer = {"kind": "human", "reason": reason}
    return "If something still isn't right, I can pass this to a person on our team — just say yes."


# --- "it never came" ---------------------------------------------------------------------------


def not_arrived_reply(turn: Turn) -> str:
    """Where the customer's open orders are (the status words in the message pick them)."""
    turn.state.start("track")
    reply = advance_track(turn)
    intro = "I'm sorry it's taking so long — here's where things stand.\n" if _upset(turn) else ""
    return f"{intro}{reply}\n{_offer_person(turn, 'The customer says an order has not arrived.')}"


# --- "charged twice" ---------------------------------------------------------------------------


def _payments_line(order: dict[str, Any], methods: dict[str, dict[str, Any]]) -> str:
    parts = []
    for payment in order.get("payment_history", []):
        verb = "paid" if payment["transaction_type"] == "payment" else "refunded"
        parts.append(
            f"{verb} ${payment['amount']:.2f} with your {method_id_words(payment['payment_method_id'], methods)}"
        )
    return f"- **{order['order_id']}** ({order_items_words(order, limit=2)}): " + ("; ".join(parts) or "no payments")


def _payment_count(order: dict[str, Any]) -> int:
    return sum(1 for payment in order.get("payment_history", []) if payment["transaction_type"] == "payment")


def charges_reply(turn: Turn) -> str:
    """The payment history of the order(s) concerned, in words, and what a second charge usually is."""
    methods = turn.payment_methods()
    named = bool(turn.entities.order_ids or turn.entities.products or turn.entities.order_refs)
    orders: list[dict[str, Any]] = []
    if named:
        resolved = resolve_order(turn, statuses=None, purpose="checked")
        if resolved.value is not None:
            orders = [resolved.value]
        elif resolved.refused:
            return resolved.say
        else:
            orders = resolved.choices
    if not orders:
        # Orders paid more than once first (wherever they are on the account), then the latest.
        paid = [order for order in turn.orders(everything=True) if order.get("payment_history")]
        orders = sorted(paid, key=lambda order: -_payment_count(order))[:3]
    if not orders:
        return "I don't see any payments on your orders. " + _offer_person(
            turn, "The customer reports a double charge."
        )
    if len(orders) == 1:
        turn.state.last_order_id = orders[0]["order_id"]
    twice = [order for order in orders if _payment_count(order) > 1]
    lines = ["Here's what was charged and refunded on your order" + ("s:" if len(orders) > 1 else ":")]
    lines += [_payments_line(order, methods) for order in orders]
    if twice:
        ids = ", ".join(order["order_id"] for order in twice)
        lines.append(
            f"{ids} {'has' if len(twice) == 1 else 'have'} more than one payment: the later one is the price "
            "difference from changing items on the order, not a second charge for the whole order."
        )
    else:
        lines.append(
            "I see one charge per order. If your statement shows the same amount twice, the second is usually a "
            "temporary hold from your bank that disappears within a few business days."
        )
    lines.append(_offer_person(turn, "The customer reports being charged twice."))
    return "\n".join(lines)


# --- "wrong size" ------------------------------------------------------------------------------


def _sized_items(order: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in order["items"] if any("size" in str(key).lower() for key in item.get("options") or {})]


_SIZE_NAMED = re.compile(r"\bsize\s*\w+|\b(?:an?|in|for)\s+(?:size\s+)?\d+(?:\.\d)?\b|\bXS|XXL|XL\b", re.IGNORECASE)


def wrong_size_reply(turn: Turn) -> str:
    """An exchange for another size (a change of size while the order hasn't shipped)."""
    eligible = ("delivered", "pending")
    resolved = resolve_order(turn, statuses=eligible, purpose="exchanged")
    order = resolved.value if resolved.value is not None and not resolved.say else None
    if order is None and not resolved.refused:
        # Nothing named: the orders with something that comes in sizes, on the whole account.
        pool = resolved.choices if any(_sized_items(choice) for choice in resolved.choices) else []
        pool = pool or [o for o in turn.orders(everything=True) if o["status"] in eligible and _sized_items(o)]
        if len(pool) == 1:
            order = pool[0]
        elif pool:
            turn.state.start("exchange")
            turn.state.asking = "order"
            return "Sorry it doesn't fit — I can exchange it for another size. " + which_order(pool, "exchanged")
    if order is None:
        return resolved.say
    form = "exchange" if order["status"] == "delivered" else "change_items"
    turn.state.start(form, order_id=order["order_id"])
    turn.state.last_order_id = order["order_id"]
    sized = _sized_items(order)
    if len(sized) == 1:
        turn.state.slots["item_ids"] = [sized[0]["item_id"]]
    intro = (
        "Sorry it doesn't fit. I can exchange it for another size (or, if you'd rather, you can return it). "
        if form == "exchange"
        else "It hasn't shipped yet, so I can change the size on the order. "
    )
    if len(sized) != 1 or _SIZE_NAMED.search(turn.text):
        return intro + FORMS[form](turn)
    # "too small" names no size to change to: ask, rather than read "small" as the wish.
    item = sized[0]
    record = turn.tool("get_product_details", product_id=item["product_id"])
    if not record.outcome.ok:
        return intro + FORMS[form](turn)
    product = record.outcome.result
    available = [
        variant
        for variant in product["variants"].values()
        if variant.get("available") and variant["item_id"] != item["item_id"]
    ]
    turn.state.asking = "variant"
    if not available:
        turn.state.finish()
        return f"Sorry it doesn't fit. There's no other option of {product['name']} in stock right now — you can return it instead."
    return (
        f"{intro}Which size would you like instead of {item_words(item)} (order {order['order_id']})?\n"
        + variant_listing(available, product)
    )
