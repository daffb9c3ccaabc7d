"""One offline turn's working set: the request, what the NLU understood, the state, the tool calls.

Every tool goes through `Turn.tool` → assistant.toolcalls.tool_call_run, as the customer
of the conversation: read tools run at once, consequential ones become PendingActions the
customer confirms. Reads of the customer's own orders are memoised for the turn, since the
forms ask for the same order more than once while resolving "the headphones order".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from assistant.offline.state import State
from assistant.toolcalls import ToolCallRecord, tool_call_run
from chat.models import ToolCallLog

if TYPE_CHECKING:
    from assistant.nlu import Understanding
    from assistant.types import BrainRequest

# How many of the customer's orders are read first: the five newest (the profile's) and the
# rest by id, newest first. A description that none of them fits ("the cushion I got in
# spring") widens the search to every order on the account; an overview ("where are my
# orders?") stays within these, so a long order history never makes such a turn slower.
ORDERS_CONSIDERED = 10
# Past this many orders the account is read no further (each is one tool call).
ORDERS_MAX = 60


@dataclass
class Turn:
    request: BrainRequest
    understanding: Understanding
    state: State
    records: list[ToolCallRecord] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    escalate: bool = False
    escalation_reason: str = ""
    # The order a description resolved to in this turn, named in the next question so the
    # customer sees which one was understood.
    order_found: str = ""
    _orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    _order_ids: list[str] | None = None
    _tracking: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    _user: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return self.request.text

    @property
    def entities(self) -> Any:
        return self.understanding.entities

    def tool(self, name: str, **arguments: Any) -> ToolCallRecord:
        record = tool_call_run(
            name=name,
            arguments=arguments,
            context=self.request.context,
            conversation=self.request.conversation,
            source=ToolCallLog.Source.OFFLINE,
        )
        self.records.append(record)
        return record

    # --- the customer's own records, read through the tools ---------------------------------

    def user(self) -> dict[str, Any]:
        if self._user is None:
            customer = self.request.context.customer
            record = self.tool("get_user_details", user_id=customer.handle if customer else "")
            self._user = record.outcome.result if record.outcome.ok else {}
        return self._user or {}

    def order(self, order_id: str) -> tuple[dict[str, Any] | None, str]:
        """(the order record, "") or (None, the tool's refusal in customer words)."""
        if order_id in self._orders:
            return self._orders[order_id], ""
        record = self.tool("get_order_details", order_id=order_id)
        if not record.outcome.ok:
            return None, (record.outcome.error or {}).get("message") or f"I couldn't find order {order_id}."
        self._orders[order_id] = record.outcome.result
        return record.outcome.result, ""

    def order_ids_newest_first(self, *, everything: bool = False) -> list[str]:
        if self._order_ids is None:
            recent = [str(order["order_id"]) for order in self.request.profile.recent_orders if order.get("order_id")]
            # The profile holds the five newest; fewer means there are no others to read.
            older = [str(order_id) for order_id in reversed(self.user().get("orders", []))] if len(recent) >= 5 else []
            self._order_ids = list(dict.fromkeys([*recent, *older]))[:ORDERS_MAX]
        return self._order_ids if everything else self._order_ids[:ORDERS_CONSIDERED]

    def orders(self, *, everything: bool = False) -> list[dict[str, Any]]:
        """The customer's orders, newest first: the latest ORDERS_CONSIDERED, or all of them."""
        found = []
        for order_id in self.order_ids_newest_first(everything=everything):
            record, _ = self.order(order_id)
            if record is not None:
                found.append(record)
        return found

    def has_more_orders(self) -> bool:
        return len(self.order_ids_newest_first(everything=True)) > ORDERS_CONSIDERED

    def tracking(self, order_id: str) -> dict[str, Any] | None:
        """Where the order is (the track_order tool's answer), read once per turn."""
        if order_id not in self._tracking:
            record = self.tool("track_order", order_id=order_id)
            self._tracking[order_id] = record.outcome.result if record.outcome.ok else None
        return self._tracking[order_id]

    def placed(self, order_id: str) -> date | None:
        """The day the order was placed: from the profile for recent orders, else from tracking."""
        for order in self.request.profile.recent_orders:
            if order.get("order_id") == order_id and order.get("placed"):
                return date.fromisoformat(str(order["placed"]))
        tracking = self.tracking(order_id)
        return date.fromisoformat(tracking["placed"]) if tracking and tracking.get("placed") else None

    def payment_methods(self) -> dict[str, dict[str, Any]]:
        methods = self.user().get("payment_methods", {})
        return methods if isinstance(methods, dict) else {}


def _last_digits(payment_method_id: str) -> str:
    digits = re.sub(r"\D", "", payment_method_id)
    return digits[-4:]


def method_words(method: dict[str, Any], *, balance: bool = False) -> str:
    """How a payment method record (export shape) is named to the customer: never by its id.

    "Visa ending 1234", "PayPal", "gift card ending 8269" (with its balance when `balance`).
    """
    source = method.get("source")
    if source == "credit_card":
        brand = str(method.get("brand") or "card").title()
        return f"{brand} ending {method['last_four']}" if method.get("last_four") else brand
    if source == "gift_card":
        ending = _last_digits(str(method.get("id", "")))
        words = f"gift card ending {ending}" if ending else "gift card"
        if balance and method.get("balance") is not None:
            words += f" (balance ${Decimal(str(method['balance'])):.2f})"
        return words
    if source == "paypal":
        return "PayPal"
    return "payment method"


def method_id_words(payment_method_id: str, methods: dict[str, dict[str, Any]]) -> str:
    """A payment method id in customer words, from the customer's methods or else its shape."""
    if payment_method_id in methods:
        return method_words(methods[payment_method_id])
    for source in ("credit_card", "gift_card", "paypal"):
        if payment_method_id.startswith(source):
            return method_words({"source": source, "id": payment_method_id})
    return "payment method"


def options_words(options: dict[str, Any]) -> str:
    """ "size 11, black": a size keeps its word (a bare "11" says nothing), other values stand alone."""
    words = []
    for key, value in (options or {}).items():
        words.append(f"{key} {value}" if "size" in str(key).lower() else str(value))
    return ", ".join(words)


def item_words(item: dict[str, Any]) -> str:
    """ "Running Shoes (size 11, black)"."""
    options = options_words(item.get("options") or {})
    return f"{item['name']} ({options})" if options else str(item["name"])


# Order statuses as a customer would say them, keeping the word the order page shows.
STATUS_WORDS = {
    "pending": "pending (not shipped yet)",
    "pending (item modified)": "pending (not shipped yet, items changed)",
    "processed": "shipped",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "return requested": "return requested",
    "exchange requested": "exchange requested",
}


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status, status)


def order_items_words(order: dict[str, Any], *, limit: int = 3) -> str:
    names = list(dict.fromkeys(item["name"] for item in order.get("items", [])))
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return shown or "no items"


def order_words(order: dict[str, Any]) -> str:
    """ "#W1234567 (Kettle, Mug — not shipped yet)"."""
    return f"{order['order_id']} ({order_items_words(order)} — {status_words(order['status'])})"
