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
from assistant.offline.resolve import (
    EXCHANGE_REF,
    RETURN_REF,
    describe_order,
    named_options,
    resolve_order,
    variant_listing,
    which_order,
)
from assistant.offline.turn import Turn, item_words, method_id_words, order_items_words

_CHARGED = re.compile(
    r"\bcharged (?:me|my [\w ]{2,20}?) for (?:an? |the )?(?:order|something|things?) i (?:didn'?t|did not|never)\b"
    r"|\b(?:unexpected|unknown|strange|weird|random) (?:charge|payment)s?\b"
    r"|\bcharges? i (?:don'?t|do not|didn'?t) (?:recogni[sz]e|expect|know)\b|\b(?:double|twice|two times|2 times|duplicate|extra|over)\s*-?\s*(?:charged?|charges?|billed|payments?)\b"
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
_MY_ORDER = re.compile(r"\b(?:in|on|from|of) my (?:last |latest |recent |current |pending )?order\b", re.IGNORECASE)
_CHANGE_WORDS = re.compile(
    r"\b(?:make (?:it|them)|change|switch|swap|instead|get (?:it|them|one) in|can i (?:get|have)|rather have)\b",
    re.IGNORECASE,
)
_WANTS_RETURN = re.compile(r"\b(?:return|refund|money back|send (?:it|them) back)\b", re.IGNORECASE)
_WRONG_OPTION = re.compile(
    r"\bwrong (?:colou?r|model|version|style|shade|flavou?r|capacity|storage)\b"
    r"|\bnot the (?:colou?r|size|model|one) i (?:ordered|wanted|picked|chose)\b",
    re.IGNORECASE,
)
_DAMAGED = re.compile(
    r"\b(?:broken|damaged|cracked|smashed|dented|shattered|defective|faulty|torn|ripped|scratched|leaking|"
    r"doesn'?t work|does not work|stopped working|dead on arrival)\b",
    re.IGNORECASE,
)
_NOT_ARRIVED = re.compile(
    r"\b(?:never|still (?:not|hasn'?t|haven'?t|isn'?t|no)|not yet|hasn'?t|haven'?t|has not|have not|didn'?t|did not|"
    r"isn'?t|is not|not)\s+(?:been\s+|even\s+)?(?:came|come|arrived?|here|received|got (?:it|them|here|my)|"
    r"gotten|delivered|showed up|turned up|shown up)\b|\bstill waiting\b|\bwhere(?:'s| is| are)? my (?:stuff|package|parcel|delivery)\b",
    re.IGNORECASE,
)
_METHOD_WORDS = r"(?:paypal|pay pal|gift ?card|credit card|debit card|card|visa|master ?card|amex|discover)"
_CHANGE_PAYMENT = re.compile(
    r"\bchange (?:how i pay|how i paid|the payment(?: method)?|my payment(?: method)?|payment method)\b"
    r"|\b(?:pay(?:ed)?|paid|put|charge|bill|switch|move)\b[^.?!]*?\b(?:with|on|to|onto)\s+"
    r"(?:my\s+|the\s+|a\s+)?" + _METHOD_WORDS + r"\b"
    r"|\binstead of (?:the |my )?" + _METHOD_WORDS + r"\b",
    re.IGNORECASE,
)
# "which of my orders are on the way", "is my coffee maker on the way": where open orders are.
_ON_THE_WAY = re.compile(
    r"\b(?:which|what|any|are|is|has|have)\b[^.?!]{0,40}\b(?:on (?:the|their|its) way|in transit|shipped yet|"
    r"been shipped|out for delivery)\b",
    re.IGNORECASE,
)
_STATUS_OF = re.compile(
    r"\bstatus (?:of|on|for)\b|\b(?:any )?(?:update|news) on\b|\bwhat(?:'s| is) happening with\b", re.IGNORECASE
)
# "if i cancel my backpack order where does the money go": where a refund would go, from the order.
_REFUND_WHERE = re.compile(
    r"\bwhere (?:does|would|will) (?:the |my )?(?:money|refund)\b|\b(?:money|refund) go(?:es)?\b"
    r"|\bhow (?:do|would|will) i get (?:my |the )?money back\b",
    re.IGNORECASE,
)
# A person asked for in words the turn's own check doesn't catch ("get me a manager NOW").
_WANTS_PERSON = re.compile(
    r"\b(?:get|give|put|fetch|find|want|need|let me (?:talk|speak) to)\s+(?:me\s+)?(?:through\s+to\s+|on\s+to\s+|to\s+)?"
    r"(?:a|an|the|your|some)?\s*(?:manager|supervisor|human|real person|person|agent|someone real|somebody real)\b",
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
    # A return or refund asked for outright stays one; only damage changes how it starts.
    returning = turn.understanding.intent in {"return_item", "get_refund"}
    if (RETURN_REF.search(turn.text) or EXCHANGE_REF.search(turn.text)) and _STATUS_QUESTION.search(turn.text):
        # "did you get the boots i sent back?": where that return (or exchange) is.
        turn.state.start("track")
        return advance_track(turn)
    if (
        _DAMAGED.search(turn.text)
        and (_about_an_order(turn) or re.search(r"\b(?:package|parcel|box|delivery|item)\b", turn.text, re.I))
        and not _STATUS_QUESTION.search(turn.text)
        and not re.search(r"\b(?:warranty|guarantee)\b", turn.text, re.IGNORECASE)
    ):
        return damaged_reply(turn)
    refund_words = re.search(r"\brefund", turn.text, re.IGNORECASE)
    if not refund_words and (_ON_THE_WAY.search(turn.text) or (_STATUS_OF.search(turn.text) and _about_an_order(turn))):
        turn.state.start("track")
        return advance_track(turn)
    if _REFUND_WHERE.search(turn.text) and _about_an_order(turn):
        return refund_destination_reply(turn)
    described = describe_order(turn)
    if (described.window or described.statuses) and re.search(
        r"^\W*(?:and |what about |how about )?(?:the|my|that)\b[^.?!]{0,40}\b(?:order|one|package|parcel)\b",
        turn.text,
        re.I,
    ):
        # Only a description of an order ("the order from last month"): where that order is.
        turn.state.start("track")
        return advance_track(turn)
    if _WANTS_PERSON.search(turn.text):
        turn.escalate = True
        turn.escalation_reason = f"The customer asked for a person: {turn.text.strip()[:300]}"
        return "I'm sorry you've had to ask more than once. I'm passing you to a person on our team now."
    names_order = turn.entities.order_ids or turn.entities.order_refs or _MY_ORDER.search(turn.text)
    shaped = names_order and (turn.entities.sizes or turn.entities.options) and _CHANGE_WORDS.search(turn.text)
    if shaped and not returning:
        # "the rain jacket on #W…, can i make it a large?", "the sunglasses in my order, can i get
        # the brown lenses instead": an item change by its shape, whatever the intent model thought.
        turn.state.start("change_items")
        return FORMS["change_items"](turn)
    if turn.understanding.intent in _ANSWERED_ELSEWHERE and turn.understanding.confident:
        return None
    if returning:
        return None
    swapping = re.search(r"\b(?:refund|difference|exchange|swap|return)", turn.text, re.IGNORECASE)
    if _CHANGE_PAYMENT.search(turn.text) and _about_an_order(turn) and not swapping:
        turn.state.start("payment")
        return FORMS["payment"](turn)
    if _CHARGED.search(turn.text):
        return charges_reply(turn)
    if _WRONG_SIZE.search(turn.text) and _WANTS_RETURN.search(turn.text):
        # "too small, i want to return it": the return they asked for, not an exchange.
        turn.state.start("return")
        return "Sorry it doesn't fit. " + FORMS["return"](turn)
    if _WRONG_SIZE.search(turn.text):
        return wrong_option_reply(turn, option="size")
    if _WRONG_OPTION.search(turn.text):
        return wrong_option_reply(turn, option="")
    if _NOT_ARRIVED.search(turn.text):
        return not_arrived_reply(turn)
    return None


_STATUS_QUESTION = re.compile(
    r"\b(?:did you (?:get|receive)|have you (?:got|gotten|received)|what'?s happening|whats happening|what happened"
    r"|status|update|any news|where(?:'s| is)|when)\b",
    re.IGNORECASE,
)


def _about_an_order(turn: Turn) -> bool:
    e = turn.entities
    return bool(e.order_ids or e.order_refs or e.products or re.search(r"\border\b", turn.text, re.IGNORECASE))


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
    """Where the customer's open orders are (the status words in the message pick them); for
    an order the carrier marked delivered, where such parcels usually turn up."""
    turn.state.start("track")
    reply = advance_track(turn)
    intro = "I'm sorry it's taking so long — here's where things stand.\n" if _upset(turn) else ""
    tracked, _ = turn.order(turn.state.last_order_id) if turn.state.last_order_id else (None, "")
    if tracked is not None and tracked["status"] == "delivered" and turn.state.form != "track":
        intro = "I'm sorry — that's worrying. " if not intro else intro
        reply += (
            "\nParcels marked delivered usually turn up: check around the door, porch or mailroom and with "
            "neighbours, and look on the carrier's page for a delivery photo or a note on where it was left. "
            "Carriers sometimes scan a parcel as delivered a little before dropping it off, so give it until the end "
            "of the next business day."
        )
        return f"{intro}{reply}\n{_offer_person(turn, 'The customer says a parcel marked delivered never arrived.')}"
    return f"{intro}{reply}\n{_offer_person(turn, 'The customer says an order has not arrived.')}"


# --- "where does the money go" ------------------------------------------------------------------


def refund_destination_reply(turn: Turn) -> str:
    """Where the money of the order would go back to, and when: the original payment methods."""
    resolved = resolve_order(turn, statuses=None, purpose="refunded")
    if resolved.value is None or resolved.say:
        return resolved.say
    order = resolved.value
    turn.state.last_order_id = order["order_id"]
    methods = turn.payment_methods()
    lines = []
    for payment in order["payment_history"]:
        if payment["transaction_type"] != "payment":
            continue
        method = payment["payment_method_id"]
        when = "right away" if method.startswith("gift_card") else "within 5–7 business days"
        lines.append(f"${payment['amount']:.2f} back to your {method_id_words(method, methods)} {when}")
    money = "; ".join(lines) or "nothing to refund, as nothing was charged"
    if order["status"] == "pending":
        return (
            f"If you cancel order {order['order_id']} ({order_items_words(order)}), the refund goes to the original "
            f"payment method: {money}. Want me to cancel it?"
        )
    if order["status"] == "delivered":
        return (
            f"If you return items from order {order['order_id']} ({order_items_words(order)}), the refund goes to the "
            f"original payment method or, if you prefer, a gift card — paid once the items reach us: {money}."
        )
    return f"Refunds on order {order['order_id']} go to the original payment method: {money}."


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
        # Orders paid more than once first (wherever they are on the account), then the latest;
        # only those paid with the method the customer names ("charged my gift card"), if any.
        paid = [order for order in turn.orders(everything=True) if order.get("payment_history")]
        kinds = {ref.kind for ref in turn.entities.payment_methods if ref.kind != "original"}
        if kinds:
            with_method = [
                order
                for order in paid
                if any(methods.get(p["payment_method_id"], {}).get("source") in kinds for p in order["payment_history"])
            ]
            paid = with_method or paid
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


def _product(turn: Turn, item: dict[str, Any]) -> dict[str, Any]:
    record = turn.tool("get_product_details", product_id=item["product_id"])
    return record.outcome.result if record.outcome.ok else {"variants": {}}


def _sized_items(order: dict[str, Any], option: str = "size") -> list[dict[str, Any]]:
    """Items with an option of that kind (any option when `option` is "")."""
    return [
        item
        for item in order["items"]
        if any(option in str(key).lower() for key in item.get("options") or {}) and item.get("options")
    ]


_SIZE_NAMED = re.compile(r"\bsize\s*\w+|\b(?:an?|in|for)\s+(?:size\s+)?\d+(?:\.\d)?\b|\bXS|XXL|XL\b", re.IGNORECASE)


def wrong_option_reply(turn: Turn, *, option: str) -> str:
    """An exchange for another size or option (a change while the order hasn't shipped)."""
    eligible = ("delivered", "pending")
    resolved = resolve_order(turn, statuses=eligible, purpose="exchanged")
    order = resolved.value if resolved.value is not None and not resolved.say else None
    what = "size" if option == "size" else "option"
    sorry = "Sorry it doesn't fit." if option == "size" else "Sorry it isn't the one you wanted."
    if order is None and not resolved.refused:
        # Nothing named: the orders with something that comes in options, on the whole account.
        pool = resolved.choices if any(_sized_items(choice, option) for choice in resolved.choices) else []
        pool = pool or [o for o in turn.orders(everything=True) if o["status"] in eligible and _sized_items(o, option)]
        if len(pool) == 1:
            order = pool[0]
        elif pool:
            turn.state.start("exchange")
            turn.state.asking = "order"
            return f"{sorry} I can exchange it for another {what}. " + which_order(pool, "exchanged")
    if order is None:
        return resolved.say if resolved.refused else f"{sorry} I can exchange it for another {what}. {resolved.say}"
    form = "exchange" if order["status"] == "delivered" else "change_items"
    turn.state.start(form, order_id=order["order_id"])
    turn.state.last_order_id = order["order_id"]
    sized = _sized_items(order, option)
    if len(sized) == 1:
        turn.state.slots["item_ids"] = [sized[0]["item_id"]]
    intro = (
        f"{sorry} I can exchange it for another {what} (or, if you'd rather, you can return it). "
        if form == "exchange"
        else f"It hasn't shipped yet, so I can change the {what} on the order. "
    )
    # What the customer wants instead, with the complaint taken out ("too small" is not a wish
    # for size small): "too small, can i get the large navy one" names large and navy.
    wish = _WRONG_SIZE.sub(" ", turn.text) if option == "size" else turn.text
    names_one = bool(sized) and bool(named_options(turn, item=sized[0], product=_product(turn, sized[0]), clause=wish))
    if len(sized) != 1 or names_one:
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
        return f"{sorry} There's no other option of {product['name']} in stock right now — you can return it instead."
    return (
        f"{intro}Which {what} would you like instead of {item_words(item)} (order {order['order_id']})?\n"
        + variant_listing(available, product)
    )


# --- "it arrived broken" -----------------------------------------------------------------------


def damaged_reply(turn: Turn) -> str:
    """An apology, then a return of the damaged item (a refund, or an exchange if asked)."""
    form = "exchange" if re.search(r"\b(?:exchange|replace|replacement|swap|new one)\b", turn.text, re.I) else "return"
    turn.state.start(form)
    reply = FORMS[form](turn)
    what = "an exchange" if form == "exchange" else "a return for a refund"
    return (
        f"I'm sorry it arrived damaged. Let's set up {what} — mention the damage when you send it back and we'll "
        f"also refund the original shipping.\n{reply}"
    )
