"""Turning what the customer said into records: which order, which items, which payment method, which variant.

Each resolver returns what it found, or the question to ask when it can't tell. Everything
is looked up through the turn's tools as the acting customer, so an order id that isn't
theirs resolves to the tool's refusal, never to the order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from assistant.nlu.catalog import normalize, singular
from assistant.nlu.entities import SIZE_WORDS
from assistant.offline.turn import Turn, item_words, method_words, order_words

_ALL_ITEMS = re.compile(
    r"\b(?:all|both|everything|every item|the whole (?:order|thing)|all of (?:them|it))\b", re.IGNORECASE
)


@dataclass
class Resolved:
    value: Any = None
    # What to say instead when nothing (or too much) matched: a question or a refusal.
    say: str = ""
    # The refusal is final for this form (someone else's order, wrong status).
    refused: bool = False


def resolve_order(turn: Turn, *, statuses: tuple[str, ...] | None, purpose: str) -> Resolved:
    """The order the customer means, among theirs, in one of `statuses` (None: any).

    Explicit ids win, then corrections ("the other order"), product words ("the headphones
    order"), "my last order", the form's current order, and finally a single candidate.
    """
    entities = turn.entities
    state = turn.state
    current = state.slots.get("order_id") or ""
    if entities.order_ids:
        order_id = entities.order_ids[0]
        record, refusal = turn.order(order_id)
        if record is None:
            return Resolved(
                say=refusal + " I can only look up orders on your own account — could you check the number?",
                refused=True,
            )
        return _check_status(record, statuses, purpose)
    wants_other = "other" in entities.order_refs or "previous" in entities.order_refs
    orders = turn.orders()
    if not orders:
        return Resolved(say="I couldn't find any orders on your account.", refused=True)
    candidates = [order for order in orders if statuses is None or order["status"] in statuses]
    if wants_other:
        others = [order for order in (candidates or orders) if order["order_id"] != (current or state.last_order_id)]
        if len(others) == 1:
            return _check_status(others[0], statuses, purpose)
        if others:
            return Resolved(say=_which_order(others, purpose))
    mentioned = {pid for mention in entities.products for pid in mention.product_ids}
    if mentioned:
        matching = [order for order in orders if any(item["product_id"] in mentioned for item in order["items"])]
        if len(matching) == 1:
            return _check_status(matching[0], statuses, purpose)
        narrowed = [order for order in matching if order in candidates]
        if len(narrowed) == 1:
            return Resolved(value=narrowed[0])
        # "the running shoes in size 10": the options tell two orders of one product apart.
        by_options = [
            order
            for order in matching
            if any(item["product_id"] in mentioned and _options_mentioned(item, turn.text) for item in order["items"])
        ]
        if len(by_options) == 1:
            return _check_status(by_options[0], statuses, purpose)
        if matching:
            return Resolved(say=_which_order(narrowed or matching, purpose))
    if "latest" in entities.order_refs:
        return _check_status(orders[0], statuses, purpose)
    if "first" in entities.order_refs:
        return _check_status(orders[-1], statuses, purpose)
    if current:
        record, _ = turn.order(current)
        if record is not None:
            return Resolved(value=record)
    if state.last_order_id and state.form in {"", "track"}:
        record, _ = turn.order(state.last_order_id)
        if record is not None and (statuses is None or record["status"] in statuses):
            return Resolved(value=record)
    if len(candidates) == 1:
        return Resolved(value=candidates[0])
    if not candidates:
        wanted = " or ".join(f"“{status}”" for status in statuses or ())
        return Resolved(
            say=f"None of your recent orders can be {purpose} — that needs an order that is {wanted}. "
            f"Your orders: {'; '.join(order_words(o) for o in orders[:5])}.",
            refused=True,
        )
    return Resolved(say=_which_order(candidates, purpose))


def _which_order(orders: list[dict[str, Any]], purpose: str) -> str:
    listing = "\n".join(f"• {order_words(order)}" for order in orders[:6])
    return f"Which order would you like {purpose}? You can give the order number or describe it:\n{listing}"


_STATUS_HELP = {
    "cancelled": "it has already been cancelled",
    "delivered": "it has already been delivered — you can return or exchange items instead",
    "processed": "it has already been processed for shipping, so it can no longer be changed or cancelled",
    "pending": "it hasn't been delivered yet — you can cancel it or change it instead",
    "pending (item modified)": "its items were already changed once, so it can't be changed or cancelled again",
    "return requested": "a return is already under way for it",
    "exchange requested": "an exchange is already under way for it",
}


def _check_status(order: dict[str, Any], statuses: tuple[str, ...] | None, purpose: str) -> Resolved:
    if statuses is None or order["status"] in statuses:
        return Resolved(value=order)
    why = _STATUS_HELP.get(order["status"], f"its status is “{order['status']}”")
    return Resolved(value=order, say=f"Order {order['order_id']} can't be {purpose}: {why}.", refused=True)


def resolve_items(turn: Turn, order: dict[str, Any], *, purpose: str, single: bool = False) -> Resolved:
    """Item ids of `order` the customer means (respecting quantities), or a question."""
    items = order["items"]
    if len(items) == 1:
        return Resolved(value=[items[0]["item_id"]])
    entities = turn.entities
    chosen: list[str] = [item_id for item_id in entities.item_ids if any(item["item_id"] == item_id for item in items)]
    if not chosen and not single and _ALL_ITEMS.search(turn.text):
        return Resolved(value=[item["item_id"] for item in items])
    if not chosen:
        mentioned = [pid for mention in entities.products for pid in mention.product_ids]
        words = set(normalize(turn.text).split())
        for item in items:
            by_product = item["product_id"] in mentioned
            by_name = normalize(item["name"]) in normalize(turn.text) or singular(
                normalize(item["name"]).split()[-1]
            ) in {singular(w) for w in words}
            if by_product or by_name:
                chosen.append(item["item_id"])
    if chosen and single and len(set(chosen)) > 1:
        narrowed = [item for item in items if item["item_id"] in chosen and _options_mentioned(item, turn.text)]
        chosen = [narrowed[0]["item_id"]] if len(narrowed) == 1 else chosen
    if chosen and (not single or len(set(chosen)) == 1):
        return Resolved(value=chosen[:1] if single else chosen)
    listing = "\n".join(f"• {item_words(item)}" for item in items)
    one = "Which item" if single else "Which items"
    return Resolved(say=f"{one} from order {order['order_id']} would you like {purpose}?\n{listing}")


def _options_mentioned(item: dict[str, Any], text: str) -> bool:
    normalized = f" {normalize(text)} "
    return any(f" {normalize(str(value))} " in normalized for value in (item.get("options") or {}).values())


def resolve_payment_method(turn: Turn, order: dict[str, Any], *, allowed: str, purpose: str) -> Resolved:
    """The customer's payment method for a refund or a price difference.

    `allowed`: "refund" → the order's original method or one of the customer's gift cards
    (the store's return rule); "any" → any of the customer's methods.
    """
    methods = turn.payment_methods()
    original_id = next(
        (p["payment_method_id"] for p in order.get("payment_history", []) if p["transaction_type"] == "payment"), ""
    )
    if allowed == "refund":
        options = {mid: m for mid, m in methods.items() if mid == original_id or m.get("source") == "gift_card"}
    else:
        options = dict(methods)
    if original_id and original_id not in options and original_id in methods:
        options[original_id] = methods[original_id]
    if not options:
        return Resolved(say="I couldn't find a payment method on your account to use for this.", refused=True)
    refs = turn.entities.payment_methods
    for ref in refs:
        if ref.kind == "original" and original_id in options:
            return Resolved(value=original_id)
        matches = [
            mid
            for mid, method in options.items()
            if method.get("source") == ref.kind
            and (not ref.last_four or method.get("last_four") == ref.last_four)
            and (not ref.brand or str(method.get("brand", "")).lower() == ref.brand)
        ]
        if len(matches) == 1:
            return Resolved(value=matches[0])
        if not matches and ref.kind != "original":
            named = {"gift_card": "a gift card", "paypal": "PayPal", "credit_card": "that card"}.get(
                ref.kind, "that method"
            )
            if allowed == "refund":
                return Resolved(
                    say=f"A refund can only go to the original payment method or a gift card, and {named} isn't one of "
                    f"those here. {_which_method(options, original_id, purpose)}"
                )
            return Resolved(
                say=f"I couldn't find {named} on your account. {_which_method(options, original_id, purpose)}"
            )
    if len(options) == 1:
        return Resolved(value=next(iter(options)))
    return Resolved(say=_which_method(options, original_id, purpose))


def _which_method(options: dict[str, dict[str, Any]], original_id: str, purpose: str) -> str:
    names = []
    for mid, method in options.items():
        label = method_words(method)
        names.append(f"{label} (the original payment method)" if mid == original_id else label)
    return f"Which payment method should {purpose} — " + " or ".join(names) + "?"


def resolve_variant(turn: Turn, *, item: dict[str, Any], product: dict[str, Any]) -> Resolved:
    """The available variant of the item's product the customer wants instead, or a question."""
    current = {str(k): normalize(str(v)) for k, v in (item.get("options") or {}).items()}
    variants = [v for v in product["variants"].values() if v["item_id"] != item["item_id"]]
    available = [v for v in variants if v.get("available")]
    wanted = _wanted_values(turn)
    scored = []
    for variant in variants:
        options = {str(k): normalize(str(v)) for k, v in variant["options"].items()}
        hits = sum(1 for key, value in options.items() if _value_wanted(key, value, wanted, current.get(key)))
        kept = sum(1 for key, value in options.items() if current.get(key) == value)
        scored.append((hits, kept, variant))
    best_hits = max((hits for hits, _, _ in scored), default=0)
    if best_hits:
        top = [s for s in scored if s[0] == best_hits]
        top.sort(key=lambda s: (-s[1], not s[2].get("available")))
        choice = top[0][2]
        if not choice.get("available"):
            return Resolved(
                say=f"Sorry — {product['name']} ({_options_words(choice)}) is out of stock right now. "
                + _variant_listing(available, product)
            )
        return Resolved(value=choice)
    if not available:
        return Resolved(say=f"Sorry — there is no other option of {product['name']} in stock right now.", refused=True)
    return Resolved(say=f"What would you like instead of {item_words(item)}? " + _variant_listing(available, product))


def _wanted_values(turn: Turn) -> set[str]:
    text = normalize(turn.text)
    wanted = set(text.split()) | {option.value for option in turn.entities.options}
    for size in turn.entities.sizes:
        wanted |= set(SIZE_WORDS.get(size, (size,)))
    words = text.split()
    wanted |= {" ".join(words[i : i + 2]) for i in range(len(words) - 1)}
    wanted |= {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}
    return wanted


def _value_wanted(key: str, value: str, wanted: set[str], current: str | None) -> bool:
    if value == current:
        return False
    if "size" in key.lower():
        return value in wanted or any(value in SIZE_WORDS.get(word, ()) for word in wanted if word in SIZE_WORDS)
    return len(value) > 1 and value in wanted


def _options_words(variant: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in variant["options"].items())


def _variant_listing(available: list[dict[str, Any]], product: dict[str, Any]) -> str:
    if not available:
        return ""
    shown = "\n".join(f"• {_options_words(v)} — ${v['price']:.2f}" for v in available[:8])
    more = f"\n…and {len(available) - 8} more." if len(available) > 8 else ""
    return f"Available options of {product['name']}:\n{shown}{more}"
