"""Turning what the customer said into records: which order, which items, which payment method, which variant.

Each resolver returns what it found, or the question to ask when it can't tell. Everything
is looked up through the turn's tools as the acting customer, so an order id that isn't
theirs resolves to the tool's refusal, never to the order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from assistant.nlu.catalog import normalize, singular
from assistant.nlu.entities import SIZE_WORDS, ProductMention
from assistant.offline.turn import Turn, item_words, method_words, order_words, status_words

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
    # The orders the question lists, when it asks which one.
    choices: list[dict[str, Any]] = field(default_factory=list)


_OPEN = ("pending", "pending (item modified)", "processed")
# What a customer calls an order by its state: checked in this order, so "hasn't arrived"
# is read as on its way before "arrived" could read as delivered.
RETURN_REF = re.compile(
    r"\b(?:sent|send|shipped|mailed|posted|dropped off)\s+(?:[\w-]+\s+){0,4}?back\b|\b(?:my|the|that)\s+return\b"
    r"|\breturned\s+(?:it|them|the)\b|\breturn i (?:made|started|requested)\b",
    re.IGNORECASE,
)
EXCHANGE_REF = re.compile(r"\b(?:my|the|that)\s+exchange\b|\bexchange i (?:made|started|requested)\b", re.IGNORECASE)
_STATUS_REFS: list[tuple[tuple[str, ...], re.Pattern[str]]] = [
    (("return requested",), RETURN_REF),
    (("exchange requested",), EXCHANGE_REF),
    (
        ("pending", "pending (item modified)"),
        re.compile(
            r"\b(?:not|never|hasn'?t|has not|haven'?t|have not|didn'?t|did not|isn'?t|wasn'?t|yet to be)\s+"
            r"(?:been\s+|even\s+|yet\s+)?(?:shipped|sent|dispatched|left)\b|\bunshipped\b|\bpending\b",
            re.IGNORECASE,
        ),
    ),
    (
        _OPEN,
        re.compile(
            r"\b(?:not|never|hasn'?t|has not|haven'?t|have not|didn'?t|did not|isn'?t|is not|still not|not yet|yet to)\s+"
            r"(?:been\s+|even\s+|yet\s+)?(?:arrived?|come|came|here|there|delivered|received|got(?:ten)?|showed up|"
            r"turned up|get)\b"
            r"|\bnever (?:came|arrived|got (?:it|here|them)|showed up|turned up)\b|\bstill (?:waiting|not here)\b"
            r"|\b(?:on (?:its|their|the) way|in transit|out for delivery|shipped|open orders?)\b|\bnot here\b",
            re.IGNORECASE,
        ),
    ),
    (
        ("delivered",),
        re.compile(
            r"\b(?:delivered|arrived|received)\b|\bthe one (?:i|that|which) (?:got|have)\b|\bcame (?:last|yesterday)",
            re.IGNORECASE,
        ),
    ),
    (
        ("cancelled",),
        re.compile(r"\b(?:the|my|that)\s+cancell?ed\b|\b(?:was|were|got|been)\s+cancell?ed\b", re.IGNORECASE),
    ),
]
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_AGO = re.compile(
    r"\b(\d+|a|an|one|two|three|four|five|six|a few|a couple(?: of)?|couple(?: of)?)\s+(day|week|month)s?\s+ago\b",
    re.IGNORECASE,
)
_COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
# A month name only counts as a date after a word that makes it one ("in may", "may order").
_MONTH_NAME = re.compile(
    r"\b(?:in|from|during|since|back in|early|late|mid|this|last)\s+("
    + "|".join(sorted(_MONTHS, key=len, reverse=True))
    + r")\b|\b("
    + "|".join(name for name in _MONTHS if len(name) > 3)
    + r")\s+(?:order|purchase|one)\b",
    re.IGNORECASE,
)
# A catalog match this close is the customer naming the product, not a fuzzy guess.
_NAMED_SCORE = 90
# Option values too common as words to say which order is meant ("no, the other one").
_WEAK_OPTION_VALUES = {
    "no",
    "yes",
    "none",
    "full",
    "half",
    "basic",
    "plain",
    "standard",
    "custom",
    "fixed",
    "new",
    "one",
}


def _month_window(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def time_window(text: str, *, today: date) -> tuple[date, date] | None:
    """The days a phrase like "last month", "two weeks ago" or "in march" points at (generously)."""
    lowered = text.lower()
    if re.search(r"\byesterday\b", lowered):
        return today - timedelta(days=2), today - timedelta(days=1)
    if re.search(r"\btoday\b|\bthis morning\b", lowered):
        return today - timedelta(days=1), today
    if re.search(r"\blast week\b|\ba week ago\b", lowered):
        return today - timedelta(days=16), today - timedelta(days=4)
    if re.search(r"\bthis week\b", lowered):
        return today - timedelta(days=7), today
    if re.search(r"\blast month\b|\ba month ago\b", lowered):
        previous = today.replace(day=1) - timedelta(days=1)
        return _month_window(previous.year, previous.month)
    if re.search(r"\bthis month\b", lowered):
        return today.replace(day=1), today
    ago = _AGO.search(lowered)
    if ago:
        count_word = ago.group(1)
        count = (
            int(count_word)
            if count_word.isdigit()
            else _COUNT_WORDS.get(count_word, 2 if "couple" in count_word else 3)
        )
        days = count * {"day": 1, "week": 7, "month": 30}[ago.group(2)]
        slack = max(2, days // 3)
        return today - timedelta(days=days + slack), today - timedelta(days=max(0, days - slack))
    named = _MONTH_NAME.search(lowered)
    if named:
        month = _MONTHS[named.group(1) or named.group(2)]
        year = today.year if month <= today.month else today.year - 1
        return _month_window(year, month)
    return None


@dataclass(frozen=True)
class OrderDescription:
    """What a message says about an order besides its number."""

    product_ids: frozenset[str]
    # A product named outright (not a fuzzy guess): no order holding it means none is meant.
    product_named: bool
    options: bool
    text: str
    statuses: tuple[str, ...] | None
    window: tuple[date, date] | None

    @property
    def given(self) -> bool:
        """Does it say something that only a wider search could match?"""
        return bool(self.product_ids or self.options or self.statuses or self.window)


def named_outright(mention: ProductMention) -> bool:
    """The customer wrote the product's name (or most of it), not a slang alias or a near miss:
    "can" matching headphones' "cans" must not count as naming them."""
    if mention.score < _NAMED_SCORE or len(mention.text) < 4:
        return False
    said = {singular(word) for word in mention.text.split()}
    return any(said & {singular(word) for word in normalize(name).split()} for name in mention.names)


def describe_order(turn: Turn) -> OrderDescription:
    statuses = next((found for found, pattern in _STATUS_REFS if pattern.search(turn.text)), None)
    return OrderDescription(
        product_ids=frozenset(pid for mention in turn.entities.products for pid in mention.product_ids),
        product_named=any(named_outright(mention) for mention in turn.entities.products),
        options=bool(turn.entities.options or turn.entities.sizes),
        text=turn.text,
        statuses=statuses,
        window=time_window(turn.text, today=timezone.localdate()),
    )


# Last words that only say how a product comes ("Luggage Set"): the words before them name it.
_GENERIC_TAILS = {"set", "kit", "pack", "bundle", "combo", "pair"}


def _name_tails(name: str) -> list[str]:
    """ "Down Sleeping Bag" → down sleeping bag, sleeping bag, bag; "Luggage Set" also luggage."""
    words = [singular(word) for word in normalize(name).split()]
    tails = [" ".join(words[start:]) for start in range(len(words))]
    if len(words) > 1 and words[-1] in _GENERIC_TAILS:
        tails = tails[:-1] + [" ".join(words[start:-1]) for start in range(len(words) - 1)]
    return tails


def _names_item(item: dict[str, Any], description: OrderDescription) -> bool:
    """The item's product is named: by the catalog match, or by the end of its name ("the
    sleeping bag" for Down Sleeping Bag, "the kettle" for Electric Kettle)."""
    if item["product_id"] in description.product_ids:
        return True
    said = f" {' '.join(singular(word) for word in normalize(description.text).split())} "
    return any(len(tail) >= 4 and f" {tail} " in said for tail in _name_tails(item["name"]))


def _option_hits(item: dict[str, Any], text: str) -> int:
    normalized = f" {normalize(text)} "
    return sum(
        1
        for value in (item.get("options") or {}).values()
        if (value_words := normalize(str(value)))
        and value_words not in _WEAK_OPTION_VALUES
        and (len(value_words) > 1 or value_words.isdigit())
        and f" {value_words} " in normalized
    )


def _matching(turn: Turn, orders: list[dict[str, Any]], description: OrderDescription) -> list[dict[str, Any]]:
    """The orders that fit every part of the description that fits any order."""
    matching = orders
    named = [order for order in matching if any(_names_item(item, description) for item in order["items"])]
    if named:
        matching = named
    elif description.product_named:
        return []
    scored = [
        (
            max(
                (
                    _option_hits(item, description.text)
                    for item in order["items"]
                    if not named or _names_item(item, description)
                ),
                default=0,
            ),
            order,
        )
        for order in matching
    ]
    best = max((score for score, _ in scored), default=0)
    if best:
        matching = [order for score, order in scored if score == best]
    if description.statuses:
        in_status = [order for order in matching if order["status"] in description.statuses]
        if in_status or not named:
            matching = in_status
    if description.window:
        start, end = description.window
        in_window = [
            order for order in matching if (placed := turn.placed(order["order_id"])) and start <= placed <= end
        ]
        if in_window or not named:
            matching = in_window
    if matching is orders and not named:
        return []
    return matching


def resolve_order(turn: Turn, *, statuses: tuple[str, ...] | None, purpose: str) -> Resolved:
    """The order the customer means, among all of theirs, in one of `statuses` (None: any).

    Explicit ids win, then corrections ("the other order"), then a description — products
    ("the kettle"), options ("the blue one"), state ("the one that hasn't arrived") and time
    ("last month"), each narrowing the others — then "my last order", the form's current
    order, and finally a single candidate. The newest orders are read first and the whole
    account only when they don't hold the order described.
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
    orders = turn.orders()
    if not orders:
        return Resolved(say="I couldn't find any orders on your account.", refused=True)

    def allowed(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [order for order in found if statuses is None or order["status"] in statuses]

    if "other" in entities.order_refs or "previous" in entities.order_refs:
        pool = allowed(orders) or orders
        others = [order for order in pool if order["order_id"] != (current or state.last_order_id)]
        if len(others) == 1:
            return _check_status(others[0], statuses, purpose)
        if others:
            return Resolved(say=which_order(others, purpose), choices=others)
    description = describe_order(turn)
    matching = _matching(turn, orders, description)
    if (
        description.given
        and (not matching or not allowed(matching) or len(allowed(matching)) > 1)
        and turn.has_more_orders()
    ):
        orders = turn.orders(everything=True)
        matching = _matching(turn, orders, description) or matching
    if matching:
        return _one_of(matching, allowed(matching), statuses, purpose)
    if description.product_named:
        names = sorted({name for mention in entities.products for name in mention.names})
        return Resolved(
            say=f"I couldn't find {' or '.join(names[:3]) or 'that'} in your orders. "
            + which_order(allowed(orders) or orders, purpose),
            choices=allowed(orders) or orders,
        )
    if "latest" in entities.order_refs:
        return _check_status(orders[0], statuses, purpose)
    if "first" in entities.order_refs:
        everything = turn.orders(everything=True)
        return _check_status(everything[-1], statuses, purpose)
    if current:
        record, _ = turn.order(current)
        if record is not None:
            return Resolved(value=record)
    if state.last_order_id and state.form in {"", "track"}:
        record, _ = turn.order(state.last_order_id)
        if record is not None and (statuses is None or record["status"] in statuses):
            return Resolved(value=record)
    candidates = allowed(orders)
    if not candidates and turn.has_more_orders():
        orders = turn.orders(everything=True)
        candidates = allowed(orders)
    if len(candidates) == 1:
        return Resolved(value=candidates[0])
    if not candidates:
        return Resolved(say=_none_eligible(orders, statuses or (), purpose), refused=True)
    return Resolved(say=which_order(candidates, purpose), choices=candidates)


def _one_of(
    matching: list[dict[str, Any]], eligible: list[dict[str, Any]], statuses: tuple[str, ...] | None, purpose: str
) -> Resolved:
    if len(matching) == 1:
        return _check_status(matching[0], statuses, purpose)
    if len(eligible) == 1:
        return Resolved(value=eligible[0])
    if not eligible:
        # Every order described is in the wrong state: say why for the newest of them.
        return _check_status(matching[0], statuses, purpose)
    return Resolved(say=which_order(eligible, purpose), choices=eligible)


def _none_eligible(orders: list[dict[str, Any]], statuses: tuple[str, ...], purpose: str) -> str:
    needs = {
        "pending": "one that hasn't shipped yet",
        "delivered": "one that has been delivered",
    }
    wanted = " or ".join(dict.fromkeys(needs.get(status, f"one that is {status_words(status)}") for status in statuses))
    listing = "\n".join(f"- {order_words(order)}" for order in orders[:5])
    return f"None of your orders can be {purpose} — that needs {wanted or 'a different order'}. Your orders:\n{listing}"


def which_order(orders: list[dict[str, Any]], purpose: str) -> str:
    listing = "\n".join(f"- {order_words(order)}" for order in orders[:6])
    more = f"\n- …and {len(orders) - 6} more" if len(orders) > 6 else ""
    return f"Which order would you like {purpose}? You can give the order number or describe it:\n{listing}{more}"


def _status_refusal(order: dict[str, Any], purpose: str) -> str:
    """Why the order can't be `purpose` in its state, with what can be done instead."""
    order_id, status = order["order_id"], order["status"]
    changes = purpose in {"cancelled", "changed", "re-addressed"}
    if status == "delivered":
        return (
            f"Order {order_id} was delivered, so it can't be {purpose} — you can return or exchange its items instead."
        )
    if status == "processed":
        later = " Once it arrives you can return or exchange it." if changes else " Once it arrives, you can."
        return f"Order {order_id} has already shipped, so it can't be {purpose} any more.{later}"
    if status == "cancelled":
        return f"Order {order_id} was cancelled, so it can't be {purpose}; its payment was refunded."
    if status == "pending":
        return (
            f"Order {order_id} hasn't been delivered yet, so it can't be {purpose} — you can cancel it or change its "
            "items instead while it hasn't shipped."
        )
    if status == "pending (item modified)":
        return (
            f"Order {order_id} can't be {purpose}: its items were changed once already (it's “pending, item "
            "modified”), and after that an order can't be changed or cancelled — a person from our team can help if "
            "something is wrong with it."
        )
    if status == "return requested":
        return f"Order {order_id} already has a return under way, so it can't be {purpose}."
    if status == "exchange requested":
        return f"Order {order_id} already has an exchange under way, so it can't be {purpose}."
    return f"Order {order_id} can't be {purpose} while it is {status_words(status)}."


def _check_status(order: dict[str, Any], statuses: tuple[str, ...] | None, purpose: str) -> Resolved:
    if statuses is None or order["status"] in statuses:
        return Resolved(value=order)
    return Resolved(value=order, say=_status_refusal(order, purpose), refused=True)


# Words that describe the order rather than the item: "the jacket in my sleeping bag order",
# "the charger from the order with my e-reader".
_ORDER_PHRASES = [
    re.compile(r"\b(?:in|from|on|of)\s+(?:my|the)\s+((?:[\w-]+\s+){0,4}?[\w-]+)\s+order\b", re.IGNORECASE),
    re.compile(
        r"\b(?:order|one|package)\s+(?:with|that has|that had|containing)\s+(?:my|the|a|an)?\s*([\w\s-]+?)(?=[,.;!?]|$|\s+(?:and|but|to|for|please|pls)\b)",
        re.IGNORECASE,
    ),
]


def _named_items(items: list[dict[str, Any]], text: str, product_ids: set[str]) -> list[str]:
    """Items named by product or by the end of their name; "sleeping bag" names the Down
    Sleeping Bag, not also the Tote Bag that only shares "bag"."""
    said = f" {' '.join(singular(word) for word in normalize(text).split())} "
    best: dict[str, str] = {}
    for item in items:
        name = [singular(word) for word in normalize(item["name"]).split()]
        matched = [tail for tail in _name_tails(item["name"]) if len(tail) >= 3 and f" {tail} " in said]
        if item["product_id"] in product_ids or matched:
            best[item["item_id"]] = max(matched, key=len) if matched else " ".join(name)
    kept = {
        item_id
        for item_id, tail in best.items()
        if not any(other != tail and other.endswith(f" {tail}") for other in best.values())
    }
    # Once per unit: two of the same item in the order are both meant.
    return [item["item_id"] for item in items if item["item_id"] in kept]


def items_named_in(order: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """The order's items a piece of text names (by the end of their names), once each."""
    named = set(_named_items(order["items"], text, set()))
    return [item for item in {item["item_id"]: item for item in order["items"]}.values() if item["item_id"] in named]


_ACTION_OBJECT = re.compile(
    r"\b(?:return|send back|exchange|swap|replace|change|switch|cancel|refund)\s+([^.;!?]+)", re.IGNORECASE
)


def _current_part(text: str) -> str:
    """The words that describe what the customer has now: before "to"/"for"/"into", and
    after "instead of" ("the black kettle to silver", "brown lenses instead of green")."""
    before = re.split(r"\b(?:to|into|for|with)\b", text, maxsplit=1, flags=re.IGNORECASE)[0]
    after = re.findall(r"\binstead of\s+([^,.;!?]+)", text, flags=re.IGNORECASE)
    return " ".join([re.sub(r"\binstead of\b.*", " ", before, flags=re.IGNORECASE), *after])


def resolve_items(turn: Turn, order: dict[str, Any], *, purpose: str, single: bool = False) -> Resolved:
    """Item ids of `order` the customer means (respecting quantities), or a question.

    Items named only in the words that describe the order ("in my sleeping bag order") are
    not the items meant, unless nothing else is named. Options tell items of one product
    apart ("the silver smart watch"); two of one product with nothing to tell them apart are
    asked about, unless the customer said "both" or "all".
    """
    items = order["items"]
    if len(items) == 1:
        return Resolved(value=[items[0]["item_id"]])
    entities = turn.entities
    every = bool(_ALL_ITEMS.search(turn.text))
    chosen: list[str] = [item_id for item_id in entities.item_ids if any(item["item_id"] == item_id for item in items)]
    if not chosen:
        item_text = turn.text
        for pattern in _ORDER_PHRASES:
            item_text = pattern.sub(" ", item_text)
        mentioned = {
            pid
            for mention in entities.products
            if f" {mention.text} " in f" {normalize(item_text)} "
            for pid in mention.product_ids
        }
        chosen = _named_items(items, item_text, mentioned)
        # "the thermostat works fine but i want to return the tablet": what follows the verb.
        objects = " ".join(match.group(1) for match in _ACTION_OBJECT.finditer(item_text))
        acted_on = _named_items(items, objects, set()) if objects else []
        if acted_on and len(set(acted_on)) < len(set(chosen)):
            chosen = [item_id for item_id in chosen if item_id in acted_on]
        if not chosen and item_text != turn.text:
            chosen = _named_items(items, turn.text, {pid for m in entities.products for pid in m.product_ids})
    if not chosen:
        # "the navy one": options alone, when they fit some of the items and not all.
        by_options = [item["item_id"] for item in items if _options_mentioned(item, turn.text)]
        if by_options and len(set(by_options)) < len({item["item_id"] for item in items}):
            chosen = by_options
    if not chosen and every and not single:
        return Resolved(value=[item["item_id"] for item in items])
    distinct = {item["item_id"]: item for item in items if item["item_id"] in chosen}
    if len(distinct) > 1:
        # Options said about what the customer has now pick among items named alike.
        for text in (_current_part(turn.text), turn.text):
            narrowed = [item_id for item_id, item in distinct.items() if _options_mentioned(item, text)]
            if narrowed and len(narrowed) < len(distinct):
                chosen = [item_id for item_id in chosen if item_id in narrowed]
                break
    distinct = {item["item_id"]: item for item in items if item["item_id"] in chosen}
    alike = len(distinct) > 1 and len({item["product_id"] for item in distinct.values()}) == 1
    if alike:
        last = normalize(next(iter(distinct.values()))["name"]).split()[-1]
        # "the toothbrushes": the plural means all of them.
        every = every or (
            not last.endswith("s") and bool(re.search(rf"\b{re.escape(last)}e?s\b", normalize(turn.text)))
        )
    if chosen and (len(distinct) == 1 or (not single and (not alike or every))):
        return Resolved(value=chosen[:1] if single else chosen)
    shown = list(distinct.values()) if len(distinct) > 1 else items
    listing = "\n".join(f"- {item_words(item)}" for item in shown)
    one = "Which item" if single else "Which items"
    return Resolved(say=f"{one} from order {order['order_id']} would you like {purpose}?\n{listing}")


def _options_mentioned(item: dict[str, Any], text: str) -> bool:
    normalized = f" {normalize(text)} "
    return any(f" {normalize(str(value))} " in normalized for value in (item.get("options") or {}).values())


def resolve_payment_method(
    turn: Turn, order: dict[str, Any], *, allowed: str, purpose: str, exclude: str = ""
) -> Resolved:
    """The customer's payment method for a refund or a price difference.

    `allowed`: "refund" → the order's original method or one of the customer's gift cards
    (the store's return rule); "any" → any of the customer's methods. `exclude` is a method
    the customer is moving away from, so "paypal instead of the gift card" names PayPal.
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
    options.pop(exclude, None)
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
        if not matches and exclude and methods.get(exclude, {}).get("source") == ref.kind:
            continue  # the method being replaced ("instead of the gift card")
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
        label = method_words(method, balance=True)
        names.append(f"{label} (the original payment method)" if mid == original_id else label)
    return f"Which payment method should {purpose} — " + " or ".join(names) + "?"


def named_options(
    turn: Turn,
    *,
    item: dict[str, Any],
    product: dict[str, Any],
    asked: frozenset[str] = frozenset(),
    clause: str | None = None,
) -> dict[str, str]:
    """The option values of the product the message asks for, one per option key.

    The item's own values don't count ("twin but my bed is a queen" asks for queen) unless
    the key was `asked` about before ("blue is sold out? ok, the black one then" when the
    shoes are black); where a key gets several, the one said last wins ("not blue, black").
    """
    current = {str(k): normalize(str(v)) for k, v in (item.get("options") or {}).items() if str(k) not in asked}
    wanted = _wanted_values(turn, clause)
    text = f" {normalize(turn.text if clause is None else clause)} "
    found: dict[str, tuple[int, str]] = {}
    for variant in product["variants"].values():
        for key, raw in variant["options"].items():
            value = normalize(str(raw))
            if not _value_wanted(str(key), value, wanted, current.get(str(key))):
                continue
            position = text.rfind(f" {value} ")
            if str(key) not in found or position > found[str(key)][0]:
                found[str(key)] = (position, value)
    # One value under several keys ("brown" lens colour and frame colour): the keys the message
    # names ("the brown lenses") keep it; the others stay as they are.
    spoken_words = normalize(turn.text if clause is None else clause).split()
    said = {singular(word) for word in spoken_words} | set(spoken_words)
    for value in {value for _, value in found.values()}:
        sharing = [key for key, (_, found_value) in found.items() if found_value == value]
        named = [
            key
            for key in sharing
            if {form for word in normalize(key).split() for form in (word, singular(word))} & said
        ]
        if len(sharing) > 1 and named:
            for key in set(sharing) - set(named):
                del found[key]
    # Yes/no options are named by their key: "the waterproof version", "a non-waterproof one".
    spoken = normalize(turn.text if clause is None else clause)
    keys = {str(key) for variant in product["variants"].values() for key in variant["options"]}
    for key in sorted(keys - set(found)):
        values = {normalize(str(v["options"].get(key, ""))) for v in product["variants"].values()}
        if not values <= {"yes", "no"}:
            continue
        word = normalize(key)
        if re.search(rf"\b(?:non|not|no|without)\s+{re.escape(word)}\b", spoken):
            found[key] = (0, "no")
        elif re.search(rf"\b{re.escape(word)}\b", spoken) and current.get(key) != "yes":
            found[key] = (0, "yes")
    return {key: value for key, (_, value) in found.items()}


def resolve_variant(
    turn: Turn, *, item: dict[str, Any], product: dict[str, Any], wanted: dict[str, str] | None = None
) -> Resolved:
    """The available variant of the item's product the customer wants instead, or a question.

    `wanted` (option key → value) is what the customer asked for so far in this form, so
    "ok the black one then" after "blue in size 11" is out of stock means size 11, black.
    """
    current = {str(k): normalize(str(v)) for k, v in (item.get("options") or {}).items()}
    variants = [v for v in product["variants"].values() if v["item_id"] != item["item_id"]]
    available = [v for v in variants if v.get("available")]
    wanted = wanted if wanted is not None else named_options(turn, item=item, product=product)
    scored = []
    for variant in variants:
        options = {str(k): normalize(str(v)) for k, v in variant["options"].items()}
        hits = sum(1 for key, value in wanted.items() if options.get(key) == value)
        kept = sum(1 for key, value in options.items() if key not in wanted and current.get(key) == value)
        scored.append((hits, kept, variant))
    best_hits = max((hits for hits, _, _ in scored), default=0)
    if best_hits:
        top = [s for s in scored if s[0] == best_hits]
        top.sort(key=lambda s: (-s[1], not s[2].get("available")))
        choice = top[0][2]
        if not choice.get("available"):
            return Resolved(
                say=f"Sorry — {product['name']} ({_options_words(choice)}) is out of stock right now. "
                + variant_listing(available, product)
            )
        return Resolved(value=choice)
    if not available:
        return Resolved(say=f"Sorry — there is no other option of {product['name']} in stock right now.", refused=True)
    return Resolved(say=f"What would you like instead of {item_words(item)}? " + variant_listing(available, product))


def _wanted_values(turn: Turn, clause: str | None = None) -> set[str]:
    """Words and phrases of the message (or of one `clause` of it) that may be option values."""
    text = normalize(turn.text if clause is None else clause)
    wanted = set(text.split())
    if clause is None:
        wanted |= {option.value for option in turn.entities.options}
        for size in turn.entities.sizes:
            wanted |= set(SIZE_WORDS.get(size, (size,)))
    else:
        for word in text.split():
            wanted |= set(SIZE_WORDS.get(word, ()))
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


def variant_listing(available: list[dict[str, Any]], product: dict[str, Any]) -> str:
    if not available:
        return ""
    shown = "\n".join(f"- {_options_words(v)} — ${v['price']:.2f}" for v in available[:8])
    more = f"\n- …and {len(available) - 8} more" if len(available) > 8 else ""
    return f"Available options of {product['name']}:\n{shown}{more}"
