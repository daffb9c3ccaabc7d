"""One offline turn's working set: the request, what the NLU understood, the state, the tool calls.

Every tool goes through `Turn.tool` → assistant.toolcalls.tool_call_run, as the customer
of the conversation: read tools run at once, consequential ones become PendingActions the
customer confirms. Reads of the customer's own orders are memoised for the turn, since the
forms ask for the same order more than once while resolving "the headphones order".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from assistant.offline.state import State
from assistant.toolcalls import ToolCallRecord, tool_call_run
from chat.models import ToolCallLog

if TYPE_CHECKING:
    from assistant.nlu import Understanding
    from assistant.types import BrainRequest

# How many of the customer's orders are read to resolve a loose description.
ORDERS_CONSIDERED = 8


@dataclass
class Turn:
    request: BrainRequest
    understanding: Understanding
    state: State
    records: list[ToolCallRecord] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    escalate: bool = False
    escalation_reason: str = ""
    _orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    _order_ids: list[str] | None = None
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

    def order_ids_newest_first(self) -> list[str]:
        if self._order_ids is None:
            recent = [str(order["order_id"]) for order in self.request.profile.recent_orders if order.get("order_id")]
            everything = (
                [str(order_id) for order_id in reversed(self.user().get("orders", []))] if len(recent) >= 5 else []
            )
            self._order_ids = list(dict.fromkeys([*recent, *everything]))[:ORDERS_CONSIDERED]
        return self._order_ids

    def orders(self) -> list[dict[str, Any]]:
        found = []
        for order_id in self.order_ids_newest_first():
            record, _ = self.order(order_id)
            if record is not None:
                found.append(record)
        return found

    def payment_methods(self) -> dict[str, dict[str, Any]]:
        methods = self.user().get("payment_methods", {})
        return methods if isinstance(methods, dict) else {}


def method_words(method: dict[str, Any]) -> str:
    """How a payment method record (export shape) is named to the customer."""
    source = method.get("source")
    if source == "credit_card":
        return f"{str(method.get('brand') or 'card').title()} ending {method.get('last_four', '')}".strip()
    if source == "gift_card":
        return f"gift card (balance ${Decimal(str(method.get('balance', 0))):.2f})"
    if source == "paypal":
        return "PayPal"
    return str(method.get("id", "payment method"))


def item_words(item: dict[str, Any]) -> str:
    options = ", ".join(str(value) for value in (item.get("options") or {}).values())
    return f"{item['name']} ({options})" if options else str(item["name"])


def order_words(order: dict[str, Any]) -> str:
    names = [item["name"] for item in order.get("items", [])]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{order['order_id']} ({order['status']}: {shown or 'no items'})"
