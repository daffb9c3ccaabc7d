"""The store tools (tau-bench retail names and arguments) over orders services and selectors.

Identity is enforced here, not in the prompt: with `context.customer` set, any order, account
or payment method that isn't theirs is refused exactly like a missing one; with
`context.customer=None` (an operator's `call_tools` without --as-user) every record is
reachable. Consequential tools carry a `describe` for the confirmation card; they return the
updated record in the export shape, as tau-bench does.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from assistant.escalation import escalation_from_tool
from assistant.tools.registry import ToolContext, tool
from orders import selectors, services
from orders.models import Customer
from supportbot.errors import InvalidInput, NotFound

_STRING = {"type": "string"}
_ORDER_ID = {"type": "string", "description": "The order id, starting with '#', such as '#W0000000'."}
_ITEM_IDS = {"type": "array", "items": {"type": "string"}, "description": "Item ids; repeat an id once per unit."}
_PAYMENT_METHOD_ID = {
    "type": "string",
    "description": "A payment method id from the user's details, such as 'gift_card_0000000'.",
}
_ADDRESS = {
    "address1": {"type": "string", "description": "First line, such as '123 Main St'."},
    "address2": {"type": "string", "description": "Second line, such as 'Apt 1', or an empty string."},
    "city": _STRING,
    "state": {"type": "string", "description": "State or province, such as 'CA'."},
    "country": {"type": "string", "description": "Country, such as 'USA'."},
    "zip": {"type": "string", "description": "Postal code, such as '12345'."},
}


def _schema(required: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": required, "required": list(required)}


def _self_service(context: ToolContext) -> bool:
    # A customer acting on their own account counts against the self-service refund limit.
    return context.customer is not None


def _own_order(context: ToolContext, order_id: str) -> None:
    selectors.check_order_access(customer=context.customer, order_id=order_id)


def _safe_describe(build: Callable[..., str], fallback: str) -> Callable[..., str]:
    """A describe() that never raises: the confirmation card falls back to a plain sentence."""

    def describe(context: ToolContext, **arguments: Any) -> str:
        try:
            return build(context, **arguments)
        except Exception:  # noqa: BLE001 - the card must render even for a bad order id
            return fallback.format(**{key: arguments.get(key, "") for key in ("order_id", "user_id")})

    return describe


def _order_summary(context: ToolContext, order_id: str) -> tuple[dict[str, Any], str]:
    record = selectors.order_details(order_id, customer=context.customer)
    count = len(record["items"])
    total = sum(Decimal(str(item["price"])) for item in record["items"])
    return record, f"{count} item{'s' if count != 1 else ''}, ${total:.2f}"


def _method_words(context: ToolContext, payment_method_id: str) -> str:
    method = selectors.payment_method_for(customer=context.customer, payment_method_id=payment_method_id)
    return method.label if method else payment_method_id


def _options_words(options: dict[str, Any]) -> str:
    """ "size 11, black": how a customer names a variant (a bare "11" needs its "size")."""
    return ", ".join(
        f"{key} {value}" if "size" in str(key).lower() else str(value) for key, value in (options or {}).items()
    )


def _item_words(item: dict[str, Any]) -> str:
    options = _options_words(item.get("options") or {})
    return f"{item['name']} ({options})" if options else str(item["name"])


def _items_words(record: dict[str, Any], item_ids: list[str]) -> str:
    """The items by product name and options, never by item id; repeats counted ("2 × Mug")."""
    held = {item["item_id"]: item for item in record["items"]}
    counts: dict[str, int] = {}
    for item_id in item_ids:
        counts[item_id] = counts.get(item_id, 0) + 1
    words = []
    for item_id, count in counts.items():
        name = _item_words(held[item_id]) if item_id in held else "an item not in this order"
        words.append(f"{count} × {name}" if count > 1 else name)
    return ", ".join(words)


# --- read tools ------------------------------------------------------------------------------


@tool(
    name="get_order_details",
    description="Get the status and details of an order.",
    parameters=_schema({"order_id": _ORDER_ID}),
)
def get_order_details(context: ToolContext, order_id: str) -> dict[str, Any]:
    return selectors.order_details(order_id, customer=context.customer)


@tool(
    name="get_product_details",
    description="Get the inventory details of a product: its variants (items) with options, price and availability.",
    parameters=_schema(
        {"product_id": {"type": "string", "description": "The product id, such as '6086499569'. Not an item id."}}
    ),
)
def get_product_details(context: ToolContext, product_id: str) -> dict[str, Any]:
    return selectors.product_details(product_id)


@tool(
    name="get_user_details",
    description="Get the details of a user: name, address, email, payment methods and order ids.",
    parameters=_schema({"user_id": {"type": "string", "description": "The user id, such as 'sara_doe_496'."}}),
)
def get_user_details(context: ToolContext, user_id: str) -> dict[str, Any]:
    return selectors.customer_details(user_id, customer=context.customer)


@tool(name="list_all_product_types", description="List the name and product id of every product type in the store.")
def list_all_product_types(context: ToolContext) -> dict[str, str]:
    return selectors.product_types()


def _only_self(context: ToolContext, found: Customer, message: str) -> str:
    if context.customer is not None and found.pk != context.customer.pk:
        raise NotFound(message)
    return found.handle


@tool(
    name="find_user_id_by_email",
    description="Find a user id by email. If not found, return an error.",
    parameters=_schema({"email": {"type": "string", "description": "The email, such as 'something@example.com'."}}),
)
def find_user_id_by_email(context: ToolContext, email: str) -> str:
    message = "We couldn't find an account with that email address."
    try:
        found = selectors.customer_find_by_email(email)
    except NotFound:
        raise NotFound(message) from None
    return _only_self(context, found, message)


@tool(
    name="find_user_id_by_name_zip",
    description="Find a user id by first name, last name and zip code. Use it only when the email can't be found.",
    parameters=_schema(
        {
            "first_name": {"type": "string", "description": "First name, such as 'John'."},
            "last_name": {"type": "string", "description": "Last name, such as 'Doe'."},
            "zip": {"type": "string", "description": "Zip code, such as '12345'."},
        }
    ),
)
def find_user_id_by_name_zip(context: ToolContext, first_name: str, last_name: str, zip: str) -> str:  # noqa: A002
    message = "We couldn't find an account with that name and zip code."
    try:
        found = selectors.customer_find_by_name_zip(first_name, last_name, zip)
    except NotFound:
        raise NotFound(message) from None
    return _only_self(context, found, message)


# --- consequential tools ----------------------------------------------------------------------


def _describe_cancel(context: ToolContext, *, order_id: str, reason: str = "") -> str:
    record, summary = _order_summary(context, order_id)
    refunds = []
    for payment in record["payment_history"]:
        if payment["transaction_type"] == "payment":
            words = _method_words(context, payment["payment_method_id"])
            when = "right away" if payment["payment_method_id"].startswith("gift_card") else "within 5–7 business days"
            refunds.append(f"refund ${payment['amount']:.2f} to your {words} {when}")
    return f"Cancel order {order_id} — {summary}, reason: {reason}; " + "; ".join(refunds or ["no payment to refund"])


@tool(
    name="cancel_pending_order",
    description=(
        "Cancel a pending order. Confirm the order id and reason ('no longer needed' or 'ordered by mistake') with the "
        "user first. Refunds go to the original payment methods: gift cards at once, others in 5–7 business days."
    ),
    parameters=_schema(
        {"order_id": _ORDER_ID, "reason": {"type": "string", "enum": ["no longer needed", "ordered by mistake"]}}
    ),
    consequential=True,
    describe=_safe_describe(_describe_cancel, "Cancel order {order_id} and refund its payments."),
)
def cancel_pending_order(context: ToolContext, order_id: str, reason: str) -> dict[str, Any]:
    _own_order(context, order_id)
    services.order_cancel(order_id=order_id, reason=reason, self_service=_self_service(context))
    return selectors.order_details(order_id)


def _address_words(arguments: dict[str, Any]) -> str:
    parts = [
        arguments.get("address1", ""),
        arguments.get("address2", ""),
        arguments.get("city", ""),
        f"{arguments.get('state', '')} {arguments.get('zip', '')}".strip(),
        arguments.get("country", ""),
    ]
    return ", ".join(part for part in parts if part)


@tool(
    name="modify_pending_order_address",
    description="Change the shipping address of a pending order. Confirm the new address with the user first.",
    parameters=_schema({"order_id": _ORDER_ID, **_ADDRESS}),
    consequential=True,
    describe=_safe_describe(
        lambda context, order_id, **address: f"Ship order {order_id} to {_address_words(address)} instead",
        "Change the shipping address of order {order_id}.",
    ),
)
def modify_pending_order_address(context: ToolContext, order_id: str, **address: str) -> dict[str, Any]:
    _own_order(context, order_id)
    services.order_modify_address(order_id=order_id, **address)
    return selectors.order_details(order_id)


def _describe_payment(context: ToolContext, *, order_id: str, payment_method_id: str) -> str:
    record, summary = _order_summary(context, order_id)
    current = record["payment_history"][0]["payment_method_id"] if record["payment_history"] else ""
    return (
        f"Pay order {order_id} ({summary}) with your {_method_words(context, payment_method_id)} instead of "
        f"{_method_words(context, current)}; the original payment is refunded"
    )


@tool(
    name="modify_pending_order_payment",
    description="Change the payment method of a pending order that has exactly one payment. Confirm with the user first.",
    parameters=_schema({"order_id": _ORDER_ID, "payment_method_id": _PAYMENT_METHOD_ID}),
    consequential=True,
    describe=_safe_describe(_describe_payment, "Change the payment method of order {order_id}."),
)
def modify_pending_order_payment(context: ToolContext, order_id: str, payment_method_id: str) -> dict[str, Any]:
    _own_order(context, order_id)
    services.order_modify_payment(order_id=order_id, payment_method_id=payment_method_id)
    return selectors.order_details(order_id)


def _pair_words(record: dict[str, Any], item_ids: list[str], new_item_ids: list[str]) -> tuple[str, Decimal]:
    """Each old item and what it becomes ("stays as it is" when the new id is the old one), and the price difference."""
    held = {item["item_id"]: item for item in record["items"]}
    words, difference = [], Decimal("0")
    for old_id, new_id in zip(item_ids, new_item_ids, strict=True):
        old = held[old_id]
        name = _item_words(old)
        if new_id == old_id:
            words.append(f"{name} — stays as it is")
            continue
        new = selectors.variant_with_product(new_id)
        if new is None:
            raise NotFound(f"We couldn't find item {new_id} in the catalog.")
        difference += new.price - Decimal(str(old["price"]))
        words.append(f"{name} → {old['name']} ({_options_words(new.options)}), ${new.price:.2f}")
    return "; ".join(words), difference


def _describe_swap(verb: str) -> Callable[..., str]:
    def build(
        context: ToolContext, *, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
    ) -> str:
        record, _ = _order_summary(context, order_id)
        pairs, difference = _pair_words(record, item_ids, new_item_ids)
        method = _method_words(context, payment_method_id)
        if difference > 0:
            money = f"the price difference of ${difference:.2f} is charged to your {method}"
        elif difference < 0:
            money = f"the price difference of ${-difference:.2f} is refunded to your {method}"
        else:
            money = "no price difference"
        tail = (
            " — the order can't be changed again afterwards"
            if verb == "Change"
            else "; we'll email return instructions"
        )
        return f"{verb} in order {order_id}: {pairs}; {money}{tail}"

    return build


@tool(
    name="modify_pending_order_items",
    description=(
        "Change items of a pending order to other available options of the same products. Can be done only once per "
        "order, so collect every change first and confirm with the user. The price difference is charged or refunded "
        "on the given payment method."
    ),
    parameters=_schema(
        {
            "order_id": _ORDER_ID,
            "item_ids": _ITEM_IDS,
            "new_item_ids": _ITEM_IDS,
            "payment_method_id": _PAYMENT_METHOD_ID,
        }
    ),
    consequential=True,
    describe=_safe_describe(_describe_swap("Change"), "Change items of order {order_id}."),
)
def modify_pending_order_items(
    context: ToolContext, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> dict[str, Any]:
    _own_order(context, order_id)
    services.order_modify_items(
        order_id=order_id, item_ids=item_ids, new_item_ids=new_item_ids, payment_method_id=payment_method_id
    )
    return selectors.order_details(order_id)


def _describe_return(context: ToolContext, *, order_id: str, item_ids: list[str], payment_method_id: str) -> str:
    record, _ = _order_summary(context, order_id)
    prices = {item["item_id"]: Decimal(str(item["price"])) for item in record["items"]}
    total = sum((prices.get(item_id, Decimal("0")) for item_id in item_ids), Decimal("0"))
    return (
        f"Return from order {order_id}: {_items_words(record, item_ids)}; refund ${total:.2f} to your "
        f"{_method_words(context, payment_method_id)} once the items arrive; we'll email return instructions"
    )


@tool(
    name="return_delivered_order_items",
    description=(
        "Request a return of items from a delivered order. The refund goes to the original payment method or a gift "
        "card. Confirm the items and refund method with the user first; return instructions are emailed."
    ),
    parameters=_schema({"order_id": _ORDER_ID, "item_ids": _ITEM_IDS, "payment_method_id": _PAYMENT_METHOD_ID}),
    consequential=True,
    describe=_safe_describe(_describe_return, "Return items from order {order_id} for a refund."),
)
def return_delivered_order_items(
    context: ToolContext, order_id: str, item_ids: list[str], payment_method_id: str
) -> dict[str, Any]:
    _own_order(context, order_id)
    services.order_return_items(
        order_id=order_id, item_ids=item_ids, payment_method_id=payment_method_id, self_service=_self_service(context)
    )
    return selectors.order_details(order_id)


@tool(
    name="exchange_delivered_order_items",
    description=(
        "Request an exchange of items of a delivered order for other available options of the same products. Can be "
        "done once per order; collect every change first and confirm with the user."
    ),
    parameters=_schema(
        {
            "order_id": _ORDER_ID,
            "item_ids": _ITEM_IDS,
            "new_item_ids": _ITEM_IDS,
            "payment_method_id": _PAYMENT_METHOD_ID,
        }
    ),
    consequential=True,
    describe=_safe_describe(_describe_swap("Exchange"), "Exchange items of order {order_id}."),
)
def exchange_delivered_order_items(
    context: ToolContext, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> dict[str, Any]:
    _own_order(context, order_id)
    services.order_exchange_items(
        order_id=order_id, item_ids=item_ids, new_item_ids=new_item_ids, payment_method_id=payment_method_id
    )
    return selectors.order_details(order_id)


@tool(
    name="modify_user_address",
    description="Change the default address of a user. Confirm the new address with the user first.",
    parameters=_schema(
        {"user_id": {"type": "string", "description": "The user id, such as 'sara_doe_496'."}, **_ADDRESS}
    ),
    consequential=True,
    describe=_safe_describe(
        lambda context, user_id, **address: f"Change your default address to {_address_words(address)}",
        "Change the default address of account {user_id}.",
    ),
)
def modify_user_address(context: ToolContext, user_id: str, **address: str) -> dict[str, Any]:
    selectors.access_customer(customer=context.customer, handle=user_id)
    services.customer_modify_address(handle=user_id, **address)
    return selectors.customer_details(user_id)


# --- calculate and transfer ------------------------------------------------------------------

_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


_LIMIT = Decimal("1e15")


def _evaluate(node: ast.AST) -> Decimal:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return Decimal(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise InvalidInput("The expression divides by zero.")
        return _OPERATORS[type(node.op)](left, right)  # type: ignore[no-any-return]
    raise InvalidInput("The expression may contain only numbers, + - * /, parentheses and a leading minus.")


def calculate_expression(expression: str) -> float:
    """Evaluate arithmetic safely (parsed with ast, never eval'd); rounded to 2 decimals."""
    if len(expression) > 200:
        raise InvalidInput("The expression is too long (at most 200 characters).")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise InvalidInput(f"'{expression}' is not a valid arithmetic expression.") from None
    result = _evaluate(tree)
    if abs(result) >= _LIMIT:
        raise InvalidInput("The result is too large to be a store amount.")
    return float(round(result, 2))


@tool(
    name="calculate",
    description="Calculate an arithmetic expression with numbers, + - * / and parentheses; the result is rounded to 2 decimals.",
    parameters=_schema({"expression": {"type": "string", "description": "Such as '2 * (3.5 + 4) - 1'."}}),
)
def calculate(context: ToolContext, expression: str) -> float:
    return calculate_expression(expression)


def transfer_to_human(context: ToolContext, *, summary: str) -> dict[str, Any]:
    """What transfer_to_human_agents does: in a conversation, open its ticket (assistant.escalation).

    Outside a conversation (an operator replaying tool calls) there is nobody to hand over.
    """
    if context.conversation_id is None:
        return {"transferred": True, "summary": summary}

    return escalation_from_tool(context, summary=summary)


@tool(
    name="transfer_to_human_agents",
    description=(
        "Transfer the user to a human agent with a summary of the issue. Only when the user asks for a human, or the "
        "request can't be handled with the available tools and policy."
    ),
    parameters=_schema({"summary": {"type": "string", "description": "A short summary of the user's issue."}}),
)
def transfer_to_human_agents(context: ToolContext, summary: str) -> dict[str, Any]:
    return transfer_to_human(context, summary=summary)
