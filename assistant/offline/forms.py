"""Task forms: ask for what is missing, remember it across turns, then propose the action.

A form's `advance` runs on every turn while the form is active. It re-resolves a slot when
it is empty or when the message corrects it ("no, the other order", "the gift card
instead"), asks one question at a time, and ends with a PendingAction through the
consequential tool — the customer's "yes" executes it, never this module.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from assistant.actions import action_supersede
from assistant.offline.resolve import (
    Resolved,
    describe_order,
    items_named_in,
    named_options,
    named_outright,
    resolve_items,
    resolve_order,
    resolve_payment_method,
    resolve_variant,
)
from assistant.offline.turn import (
    Turn,
    item_words,
    method_id_words,
    method_words,
    order_items_words,
    order_words,
    status_words,
)
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
        for key in ("item_ids", "new_item_ids", "payment_method_id", "wanted"):
            slots.pop(key, None)
        slots["order_id"] = order["order_id"]
        if order["order_id"] not in turn.entities.order_ids:
            turn.order_found = order["order_id"]
    turn.state.last_order_id = order["order_id"]
    return order, ""


def _about(turn: Turn, order: dict[str, Any]) -> str:
    """ "Order #W… (Floor Cushion): " when this turn found the order from a description."""
    if turn.order_found != order["order_id"]:
        return ""
    return f"Order {order['order_id']} ({order_items_words(order)}, {status_words(order['status'])}): "


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

# How customers give the two cancellation reasons in passing ("the trip got called off, so I
# don't really need any of it"), beyond the phrases the entity extractor knows.
_LOOSE_REASONS = [
    (
        "ordered by mistake",
        re.compile(
            r"\bby accident\b|\baccidentally\b|\bwrong (?:item|size|colou?r|one|thing|product|order|model)\b"
            r"|\bdouble[- ]?ordered\b|\bordered (?:it |this )?twice\b|\bdidn'?t mean to\b|\bmis-?clicked\b",
            re.IGNORECASE,
        ),
    ),
    (
        "no longer needed",
        re.compile(
            r"\b(?:don'?t|do not|dont|won'?t|will not|no longer|not)\s+(?:really\s+|actually\s+|even\s+)?"
            r"(?:need|want|use)\b|\bcalled off\b|\bcancell?ed (?:the |my |our )?(?:trip|event|plans?|party)\b"
            r"|\bchanged? (?:my |our )?(?:mind|plans?)\b|\bfound (?:it |one |them )?(?:cheaper|elsewhere)\b"
            r"|\bbought (?:it |one |them )?elsewhere\b|\bno need\b|\btoo late\b",
            re.IGNORECASE,
        ),
    ),
]
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
    # The limit is the customer's, not the order's: say so before asking anything.
    refusal = _refund_limit_refusal(turn)
    if refusal:
        return refusal
    order, say = _fill_order(turn, statuses=("pending",), purpose="cancelled")
    if order is None:
        return say
    slots = turn.state.slots
    loose = next((reason for reason, pattern in _LOOSE_REASONS if pattern.search(turn.text)), "")
    if turn.entities.reasons or loose:
        slots["reason"] = turn.entities.reasons[0] if turn.entities.reasons else loose
    if not slots.get("reason"):
        turn.state.asking = "reason"
        return REASON_QUESTION.format(order_id=order["order_id"])
    return _propose(turn, "cancel_pending_order", {"order_id": order["order_id"], "reason": slots["reason"]})


# --- return ---------------------------------------------------------------------------------


def advance_return(turn: Turn) -> str:
    refusal = _refund_limit_refusal(turn)
    if refusal:
        return refusal
    order, say = _fill_order(turn, statuses=("delivered",), purpose="returned")
    if order is None:
        return say
    slots = turn.state.slots
    names_items = bool(
        turn.entities.products or turn.entities.item_ids or re.search(r"\b(?:all|both|everything)\b", turn.text, re.I)
    )
    if not slots.get("item_ids") or (names_items and turn.state.asking != "payment"):
        items = resolve_items(turn, order, purpose="to return")
        if items.say:
            turn.state.asking = "items"
            return _about(turn, order) + items.say
        slots["item_ids"] = items.value
    if not slots.get("payment_method_id") or turn.entities.payment_methods:
        method = resolve_payment_method(turn, order, allowed="refund", purpose="the refund go to")
        if method.say:
            turn.state.asking = "payment"
            return _about(turn, order) + method.say
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
    if not slots.get("item_ids") and not turn.entities.item_ids:
        several = _several_swaps(turn, order)
        if isinstance(several, str):
            return _about(turn, order) + several
        if several:
            slots["item_ids"] = [item_id for item_id, _ in several]
            slots["new_item_ids"] = [new_id for _, new_id in several]
    if not slots.get("item_ids") or turn.entities.item_ids:
        items = resolve_items(turn, order, purpose=f"to {'exchange' if 'exchange' in tool else 'change'}", single=True)
        if items.say:
            turn.state.asking = "items"
            return _about(turn, order) + items.say
        slots["item_ids"] = items.value
        slots.pop("new_item_ids", None)
        slots.pop("wanted", None)
    item = next(i for i in order["items"] if i["item_id"] == slots["item_ids"][0])
    other = _other_product_named(turn, order)
    if other:
        turn.state.finish()
        instead = (
            "return it once you no longer need it and order the other one separately"
            if "exchange" in tool
            else "cancel this order and place a new one with what you'd like"
        )
        return (
            f"An item can only be swapped for another option of the same product — {other} is a different product "
            f"from {item['name']}. You can {instead}."
        )
    # Several swaps were each resolved from their own words (_several_swaps); one is resolved here.
    single = len(slots["item_ids"]) == 1
    if single and (not slots.get("new_item_ids") or turn.entities.sizes or turn.entities.options):
        product_record = turn.tool("get_product_details", product_id=item["product_id"])
        if not product_record.outcome.ok:
            turn.state.finish()
            return "I couldn't look up that product right now. " + OFFER_HUMAN
        product = product_record.outcome.result
        # What was asked for earlier in the form still holds unless this message changes it.
        earlier = slots.get("wanted", {})
        wanted = {**earlier, **named_options(turn, item=item, product=product, asked=frozenset(earlier))}
        slots["wanted"] = wanted
        variant = resolve_variant(turn, item=item, product=product, wanted=wanted)
        if variant.say:
            if variant.refused:
                turn.state.finish()
            else:
                turn.state.asking = "variant"
            return _about(turn, order) + variant.say
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


_CLAUSE_SPLIT = re.compile(r"[,;:]|\band\b|\balso\b|\bplus\b|\bthen\b", re.IGNORECASE)


def _several_swaps(turn: Turn, order: dict[str, Any]) -> list[tuple[str, str]] | str:
    """ "the e-reader for the sage 32GB one and the skillet for the 12 inch": each part names one
    item and what it becomes. [(item id, new item id), …] when two or more parts do, a refusal
    when one of them is out of stock, [] otherwise (the one-item path takes over)."""
    if len(items_named_in(order, turn.text)) < 2:
        return []
    pairs: list[tuple[str, str]] = []
    for clause in _CLAUSE_SPLIT.split(turn.text):
        named = items_named_in(order, clause)
        if len(named) != 1 or any(named[0]["item_id"] == item_id for item_id, _ in pairs):
            continue
        item = named[0]
        record = turn.tool("get_product_details", product_id=item["product_id"])
        if not record.outcome.ok:
            return []
        product = record.outcome.result
        wanted = named_options(turn, item=item, product=product, clause=clause)
        if not wanted:
            continue
        variant = resolve_variant(turn, item=item, product=product, wanted=wanted)
        if variant.say:
            return variant.say
        pairs.append((item["item_id"], variant.value["item_id"]))
    return pairs if len(pairs) >= 2 else []


_SWAP_TARGET = re.compile(r"\b(?:for|to|into|with)\s+(?:a|an|the|some|my)?\s*([a-z][\w\s-]{2,40})", re.IGNORECASE)


def _other_product_named(turn: Turn, order: dict[str, Any]) -> str:
    """A product the message names outright that isn't in the order ("for the two-person tent",
    "for dumbbells"): from the catalog match, else from the store's product types."""
    in_order = {item["product_id"] for item in order["items"]}
    for mention in turn.entities.products:
        if named_outright(mention) and not in_order & set(mention.product_ids):
            return mention.names[0]
    targets = [match.group(1) for match in _SWAP_TARGET.finditer(turn.text)]
    if not targets or turn.state.slots.get("new_item_ids"):
        return ""
    record = turn.tool("list_all_product_types")
    types = record.outcome.result if record.outcome.ok and isinstance(record.outcome.result, dict) else {}
    for target in targets:
        for name, product_id in types.items():
            if product_id not in in_order and items_named_in({"items": [_pseudo_item(name, product_id)]}, target):
                return str(name)
    return ""


def _pseudo_item(name: str, product_id: str) -> dict[str, Any]:
    return {"item_id": product_id, "product_id": product_id, "name": name, "options": {}}


def _swap_form_for_the_order(turn: Turn, form: str) -> str:
    """ "exchange" said of a pending order means changing its items, and "change" said of a
    delivered one means an exchange: the form that fits the order's state, or "" for this one."""
    slots = turn.state.slots
    if slots.get("order_id") and not _corrects_order(turn):
        return ""
    resolved = resolve_order(turn, statuses=("delivered", "pending"), purpose="changed")
    if resolved.value is None or resolved.say:
        return ""
    fits = "exchange" if resolved.value["status"] == "delivered" else "change_items"
    if fits == form:
        return ""
    turn.state.start(fits, order_id=resolved.value["order_id"])
    turn.state.last_order_id = resolved.value["order_id"]
    return fits


def advance_exchange(turn: Turn) -> str:
    if _swap_form_for_the_order(turn, "exchange"):
        return advance_change_items(turn)
    return _advance_swap(turn, statuses=("delivered",), purpose="exchanged", tool="exchange_delivered_order_items")


def advance_change_items(turn: Turn) -> str:
    if _swap_form_for_the_order(turn, "change_items"):
        return advance_exchange(turn)
    return _advance_swap(turn, statuses=("pending",), purpose="changed", tool="modify_pending_order_items")


# --- payment method of a pending order ----------------------------------------------------------


def advance_payment(turn: Turn) -> str:
    """Pay a pending order with another of the customer's methods, checked before proposing:
    one payment on record, a different method, and a gift card that covers the amount."""
    order, say = _fill_order(turn, statuses=("pending",), purpose="paid differently")
    if order is None:
        return say
    payments = [p for p in order["payment_history"] if p["transaction_type"] == "payment"]
    methods = turn.payment_methods()
    if len(order["payment_history"]) != 1 or len(payments) != 1:
        turn.state.finish()
        return (
            f"Order {order['order_id']} has more than one payment on record, so its payment method can't be changed "
            "here. " + OFFER_HUMAN
        )
    paid = payments[0]
    current = method_id_words(paid["payment_method_id"], methods)
    slots = turn.state.slots
    others = [method_words(m, balance=True) for mid, m in methods.items() if mid != paid["payment_method_id"]]
    if not others:
        turn.state.finish()
        return (
            f"Order {order['order_id']} is paid with your {current}, and that's the only payment method on your "
            "account, so there's nothing to switch to. You can add one under Payment methods and ask me again."
        )
    if not turn.entities.payment_methods:
        turn.state.asking = "payment"
        return (
            f"{_about(turn, order)}Order {order['order_id']} is paid with your {current} (${paid['amount']:.2f}). "
            f"Which method should pay for it instead — {' or '.join(others)}?"
        )
    paying = methods.get(paid["payment_method_id"], {})
    if all(
        ref.kind == paying.get("source") and (not ref.last_four or ref.last_four == paying.get("last_four"))
        for ref in turn.entities.payment_methods
    ):
        turn.state.asking = "payment"
        return (
            f"Order {order['order_id']} is already paid with your {current}. Which other method would you like to use?"
        )
    method = resolve_payment_method(turn, order, allowed="any", purpose="pay for it", exclude=paid["payment_method_id"])
    if method.say:
        turn.state.asking = "payment"
        return method.say
    chosen = methods.get(method.value, {})
    if chosen.get("source") == "gift_card" and Decimal(str(chosen.get("balance") or 0)) < Decimal(str(paid["amount"])):
        turn.state.asking = "payment"
        return (
            f"Your {method_words(chosen, balance=True)} doesn't cover the ${paid['amount']:.2f} of order "
            f"{order['order_id']}. Which other method would you like to use?"
        )
    slots["payment_method_id"] = method.value
    return _propose(
        turn, "modify_pending_order_payment", {"order_id": order["order_id"], "payment_method_id": method.value}
    )


# --- addresses -----------------------------------------------------------------------------

_STATE_ZIP = re.compile(r"^\s*([A-Za-z][A-Za-z .]*?)\s+(\d{5}(?:-\d{4})?)\b")
# "Denver CO 80203" with no comma between the city and the state.
_CITY_STATE_ZIP = re.compile(r"^\s*([A-Za-z][A-Za-z .'-]*?)\s+([A-Za-z]{2})\s+(\d{5}(?:-\d{4})?)\b")
_STREET_START = re.compile(r"\b\d+[A-Za-z]?\s+[A-Za-z]")
_ORDER_ID_TEXT = re.compile(r"#?\s?\bW?\s?\d{7}\b", re.IGNORECASE)
_NOT_A_COUNTRY = re.compile(r"\b(?:instead|please|pls|thanks?|thank you|now|asap)\b|\d", re.IGNORECASE)
ADDRESS_FORMAT = "Please write it on one line as: street, apartment (if any), city, state zip, country — e.g. “12 Oak St, Apt 4, Austin, TX 78701, USA”."


def parse_address(text: str) -> dict[str, str] | None:
    """ "please ship it to 12 Oak St, Apt 4, Austin, TX 78701 instead" → the tool's address fields, or None.

    The street starts at its house number (words before it, and order numbers, are dropped);
    "city, ST 12345" and "city ST 12345" are both read; the country defaults to USA.
    """
    parts = [part.strip(" .:;") for part in _ORDER_ID_TEXT.sub(" ", text).split(",") if part.strip(" .:;")]
    start = next((i for i, part in enumerate(parts) if _STREET_START.search(part)), None)
    if start is None:
        return None
    parts = parts[start:]
    parts[0] = parts[0][list(_STREET_START.finditer(parts[0]))[-1].start() :]
    for at in range(1, len(parts)):
        together = _CITY_STATE_ZIP.match(parts[at])
        apart = _STATE_ZIP.match(parts[at])
        if together is not None and (apart is None or at == 1 or len(apart.group(1).split()) > 1):
            city, state, zip_code, middle = together.group(1), together.group(2), together.group(3), parts[1:at]
        elif apart is not None and at >= 2:
            city, state, zip_code, middle = parts[at - 1], apart.group(1), apart.group(2), parts[1 : at - 1]
        else:
            continue
        rest = parts[at + 1] if len(parts) > at + 1 else ""
        country = rest if rest and len(rest.split()) <= 4 and not _NOT_A_COUNTRY.search(rest) else "USA"
        return {
            "address1": parts[0],
            "address2": ", ".join(middle),
            "city": city.strip(),
            "state": state.strip().upper() if len(state.strip()) == 2 else state.strip(),
            "country": "USA" if country.upper() in {"US", "U.S.", "U.S.A.", "UNITED STATES"} else country,
            "zip": zip_code,
        }
    return None


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


# Tasks that take over from the tracking overview's open question ("which order?"): the
# overview already answered, so a request for something else is a new task, not an answer.
_TASKS_AFTER_OVERVIEW = {
    "cancel_order": "cancel",
    "return_item": "return",
    "exchange_item": "exchange",
    "change_order": "change_items",
    "change_shipping_address": "order_address",
    "get_refund": "refund",
    "track_refund": "track_refund",
}


def advance_track(turn: Turn) -> str:
    """Where an order is; with no single order meant, where every open order is."""
    slots = turn.state.slots
    task = _TASKS_AFTER_OVERVIEW.get(turn.understanding.intent) if turn.state.asking == "order" else None
    if task is not None and turn.understanding.confident:
        turn.state.start(task)
        return FORMS[task](turn)
    if len(turn.entities.order_ids) > 1:
        # "where are #W1 and #W2": each of them, one after the other.
        return "\n\n".join(_track_one(turn, order_id) for order_id in turn.entities.order_ids[:5])
    if slots.get("order_id") and not _corrects_order(turn):
        return _track_one(turn, slots["order_id"])
    resolved = resolve_order(turn, statuses=None, purpose="tracked")
    if resolved.value is not None and not resolved.say:
        turn.state.last_order_id = resolved.value["order_id"]
        return _track_one(turn, resolved.value["order_id"])
    if resolved.choices:
        # Several orders fit: show where they are rather than ask, open ones first; the form
        # stays open so "the one with the shoes" picks one of them next.
        turn.state.asking = "order"
        description = describe_order(turn)
        asked, window = description.statuses, description.window
        missing = ""
        if asked and not any(order["status"] in asked for order in resolved.choices):
            # "did you get what I sent back?" with no return on record: say so before the list.
            missing = f"I don't see any order of yours that {_STATE_PHRASES.get(asked[0], 'is in that state')}. "
        elif window and not any(
            (placed := turn.placed(order["order_id"])) and window[0] <= placed <= window[1]
            for order in resolved.choices
        ):
            missing = "I don't see an order placed then. "
        return missing + render_overview(turn, resolved.choices)
    turn.state.finish()
    return resolved.say


_STATE_PHRASES = {
    "return requested": "has a return under way",
    "exchange requested": "has an exchange under way",
    "delivered": "has been delivered",
    "cancelled": "was cancelled",
    "pending": "is still waiting to ship",
    "processed": "is on its way",
}


def _track_one(turn: Turn, order_id: str) -> str:
    turn.state.finish()
    order, refusal = turn.order(order_id)
    tracking = turn.tracking(order_id) if order is not None else None
    if order is None or tracking is None:
        return refusal or f"I couldn't find order {order_id} — please check the order number."
    turn.state.last_order_id = order_id
    return render_tracking(tracking, order=order)


_OPEN_STATUSES = ("processed", "pending", "pending (item modified)")


def _shipment_words(tracking: dict[str, Any]) -> str:
    """ "shipped with UPS, tracking number 1Z… — in transit" for each shipment."""
    parts = []
    for shipment in tracking.get("shipments", []):
        carrier = shipment.get("carrier") or ""
        numbers = ", ".join(shipment.get("tracking_ids") or [])
        words = f"shipped with {carrier}" if carrier and carrier != "unknown" else "shipped"
        if numbers:
            words += f", tracking number {numbers}"
        status = shipment.get("tracking_status") or ""
        if status and status != "unknown":
            words += f" — {status}"
        parts.append(words)
    return "; ".join(parts)


def _next_step(status: str, tracking: dict[str, Any]) -> str:
    """What happens next for an order in this state, in the customer's terms."""
    tracking_statuses = {s.get("tracking_status") for s in tracking.get("shipments", [])}
    if status == "pending":
        return (
            "It hasn't shipped yet — we're getting it ready, and you'll get the tracking number by email as soon as it "
            "ships. Until then you can still change or cancel it."
        )
    if status == "pending (item modified)":
        return "It hasn't shipped yet — you'll get the tracking number by email as soon as it ships."
    if status == "processed":
        if "out for delivery" in tracking_statuses:
            return "It's out for delivery and should arrive today."
        if tracking_statuses <= {"label created"} and tracking_statuses:
            return "The carrier has the label and will pick it up shortly; the tracking number updates from then."
        return "It's on its way — the tracking number shows where it is on the carrier's site."
    if status == "delivered":
        return "If it isn't there or something is wrong with it, tell me — I can help you return or exchange it."
    if status == "cancelled":
        return "It was cancelled and its payment refunded."
    if status == "return requested":
        return "The return is under way — the refund is issued once the items reach our warehouse."
    if status == "exchange requested":
        return "The exchange is under way — the new items ship once the old ones reach our warehouse."
    return ""


def render_tracking(tracking: dict[str, Any], *, order: dict[str, Any] | None = None) -> str:
    """One order: status in words, carrier and tracking numbers, what is not shipped, what happens next."""
    status = tracking["status"]
    items = order_items_words(order) if order else ""
    head = f"Order {tracking['order_id']}" + (f" ({items})" if items else "")
    lines = [f"{head}, placed {tracking['placed']}: {status_words(status)}."]
    for shipment in tracking.get("shipments", []):
        shipped = _shipment_words({"shipments": [shipment]})
        lines.append(f"- {', '.join(shipment['items']) or 'Items'}: {shipped}")
    if tracking.get("not_yet_shipped") and tracking.get("shipments") and status not in {"cancelled"}:
        lines.append(f"- Not shipped yet: {', '.join(tracking['not_yet_shipped'])}")
    step = _next_step(status, tracking)
    if step:
        lines.append(step)
    return "\n".join(lines)


def _overview_line(order: dict[str, Any], tracking: dict[str, Any] | None, *, step: bool = True) -> str:
    status = order["status"]
    line = f"- **{order['order_id']}** — {order_items_words(order)}: {status_words(status)}"
    if tracking is not None:
        shipped = _shipment_words(tracking)
        if shipped and status == "processed":
            line = f"- **{order['order_id']}** — {order_items_words(order)}: {shipped}"
        next_step = _next_step(status, tracking) if step else ""
        if next_step:
            line += f". {next_step}"
    return line


def _overview_lines(turn: Turn, orders: list[dict[str, Any]]) -> list[str]:
    """One bullet per order; what happens next is said in the bullet, or once after the list
    when several orders share it (four pending orders need one explanation, not four)."""
    steps = {order["order_id"]: _next_step(order["status"], turn.tracking(order["order_id"]) or {}) for order in orders}
    shared = {step for step in steps.values() if step and list(steps.values()).count(step) > 1}
    lines = [
        _overview_line(order, turn.tracking(order["order_id"]), step=steps[order["order_id"]] not in shared)
        for order in orders
    ]
    for step in sorted(shared, key=list(steps.values()).index):
        ids = [order_id for order_id, own in steps.items() if own == step]
        named = ", ".join(ids[:-1]) + f" and {ids[-1]}"
        lines.append(f"For {named}: {step[0].lower()}{step[1:]}")
    return lines


def render_overview(turn: Turn, orders: list[dict[str, Any]]) -> str:
    """Several orders: the open ones first, one bullet each with where it is and what's next;
    delivered and other closed ones only named."""
    open_orders = sorted(
        (order for order in orders if order["status"] in _OPEN_STATUSES),
        key=lambda order: _OPEN_STATUSES.index(order["status"]),
    )
    closed = [order for order in orders if order["status"] not in _OPEN_STATUSES]
    lines: list[str] = []
    if open_orders:
        lines.append(
            "Here's where your open orders are:" if len(open_orders) > 1 else "Here's where your open order is:"
        )
        lines += _overview_lines(turn, open_orders[:6])
        if len(open_orders) > 6:
            lines.append(f"- …and {len(open_orders) - 6} more")
    elif len(closed) <= 4:
        # Only closed orders fit what was asked: each of them, with where it ended up.
        lines.append("Here's what I found:")
        lines += _overview_lines(turn, closed)
        lines.append("Which order did you have in mind? Tell me its number or what was in it for more.")
        return "\n".join(lines)
    else:
        lines.append("None of your orders is on its way right now.")
    delivered = [order for order in closed if order["status"] == "delivered"]
    if delivered:
        named = ", ".join(f"{order['order_id']} ({order_items_words(order, limit=2)})" for order in delivered[:3])
        more = f" and {len(delivered) - 3} more" if len(delivered) > 3 else ""
        lines.append(f"\nAlready delivered: {named}{more}.")
    others = [order for order in closed if order["status"] != "delivered"]
    if others:
        counts: dict[str, int] = {}
        for order in others:
            counts[status_words(order["status"])] = counts.get(status_words(order["status"]), 0) + 1
        lines.append("Also on your account: " + ", ".join(f"{n} {words}" for words, n in counts.items()) + ".")
    lines.append("Which order did you have in mind? Tell me its number or what was in it for its full details.")
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
    return render_refund_status(order, methods=turn.payment_methods())


def advance_track_refund(turn: Turn) -> str:
    order, say = _fill_order(turn, statuses=None, purpose="checked for a refund")
    if order is None:
        return say
    turn.state.finish()
    return render_refund_status(order, methods=turn.payment_methods())


def render_refund_status(order: dict[str, Any], *, methods: dict[str, dict[str, Any]]) -> str:
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
            lines.append(f"- ${refund['amount']:.2f} to your {method_id_words(method, methods)} — {when}")
        return "\n".join(lines)
    if order["status"] == "return requested":
        method = str(order.get("return_payment_method_id") or "")
        returned = set(order.get("return_items") or [])
        amount = sum(item["price"] for item in order["items"] if item["item_id"] in returned)
        to = f"${amount:.2f} to your {method_id_words(method, methods)}" if method and amount else "the refund"
        when = (
            "it's on the gift card right away"
            if method.startswith("gift_card")
            else "it then takes 5–7 business days to show on your statement"
        )
        return (
            f"The return for order {order['order_id']} is under way. We refund {to} as soon as the items reach our "
            f"warehouse — {when}. We emailed you the return instructions."
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
    "payment": advance_payment,
}

__all__ = ["FORMS", "item_words", "parse_address", "render_tracking"]
