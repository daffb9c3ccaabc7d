"""The tool registry: one decorator registers a tool with its OpenAI function-calling schema.

A tool is a thin adapter over another app's services/selectors. It never queries the ORM
itself, and it never takes the acting customer from its arguments: the customer comes from
`ToolContext`, which the caller builds from the authenticated request. Anything touching
another customer's data is refused here, in code, whatever the model asked for.

`call_tool` never raises for bad input: unknown tool, malformed JSON, missing or mistyped
arguments and domain errors all come back as `ToolOutcome(ok=False, error=...)`, which the
agent hands to the model as a tool result.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from supportbot.errors import ApplicationError, InvalidInput, PermissionDenied

if TYPE_CHECKING:
    from orders.models import Customer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolContext:
    """Who is acting. `customer=None` means an operator acting store-wide (call_tools without --as-user)."""

    customer: Customer | None
    conversation_id: int | None = None
    channel: str = "web"
    # Set by the WhatsApp channel until a phone number is linked to a verified account.
    verified: bool = True


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    func: Callable[..., Any]
    # Consequential tools change orders or accounts: the agent turns a call into a
    # PendingAction the customer must confirm; only then is `func` run.
    consequential: bool = False
    # Describes a consequential call in plain words for the confirmation card.
    describe: Callable[..., str] | None = None
    # Raises the refusal a consequential call would get, before it is proposed. None: the
    # proposal rehearses `func` in a savepoint that is rolled back, which is exact for tools
    # whose effects are all in the database (mail and tasks queued with on_commit); a tool
    # with effects elsewhere must bring its own check.
    check: Callable[..., None] | None = None

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass
class ToolOutcome:
    name: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": self.name, "ok": self.ok}
        if self.ok:
            payload["result"] = self.result
        else:
            payload["error"] = self.error
        return payload

    def for_model(self) -> str:
        """The tool message content handed back to the LLM."""
        return json.dumps(self.result if self.ok else {"error": self.error}, default=str)


REGISTRY: dict[str, Tool] = {}

# What an unverified context (a WhatsApp number not yet linked to an account) may use: the
# help center, the catalog and a person. Everything else — orders, accounts, payment methods,
# alerts, every consequential tool — is refused by `check_verified`, whatever the model asks.
PUBLIC_TOOLS = frozenset(
    {
        "search_knowledge_base",
        "search_products",
        "check_stock",
        "get_product_details",
        "list_all_product_types",
        "calculate",
        "transfer_to_human_agents",
    }
)
UNVERIFIED_MESSAGE = (
    "I can't look at orders or account details in this chat until this number is linked to your "
    "Cobalt Market account. To link it, send “link” followed by your account email (for example "
    "“link you@example.com”) and reply with the 6-digit code we email you."
)


def check_verified(name: str, context: ToolContext) -> None:
    """Refuse (PermissionDenied, code "unverified") a non-public tool in an unverified context."""
    if not context.verified and name not in PUBLIC_TOOLS:
        raise PermissionDenied(UNVERIFIED_MESSAGE, code="unverified")


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def tool(
    *,
    name: str,
    description: str,
    parameters: dict[str, Any] | None = None,
    consequential: bool = False,
    describe: Callable[..., str] | None = None,
    check: Callable[..., None] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `func(context, **arguments)` as a tool named `name`."""
    schema = parameters or {"type": "object", "properties": {}, "required": []}
    schema.setdefault("type", "object")
    schema.setdefault("required", [])
    schema.setdefault("additionalProperties", False)

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise RuntimeError(f"tool {name!r} is registered twice")
        REGISTRY[name] = Tool(name, description, schema, func, consequential, describe, check)
        return func

    return register


# REGISTRY is complete whenever this module is reachable: Python imports a package before its
# modules, and assistant.tools' __init__ imports every tool module (each registers on import).


def get_tool(name: str) -> Tool | None:
    return REGISTRY.get(name)


def all_tools() -> list[Tool]:
    return list(REGISTRY.values())


def _check_value(path: str, value: Any, spec: dict[str, Any]) -> None:
    expected = spec.get("type")
    if expected:
        allowed = _JSON_TYPES[expected]
        # bool is an int in Python, but not an integer or number in JSON.
        if not isinstance(value, allowed) or (expected in {"integer", "number"} and isinstance(value, bool)):
            raise InvalidInput(f"Argument '{path}' must be of type {expected}, not {type(value).__name__}.")
    if "enum" in spec and value not in spec["enum"]:
        choices = ", ".join(repr(choice) for choice in spec["enum"])
        raise InvalidInput(f"Argument '{path}' must be one of {choices}.")
    if expected == "array" and "items" in spec:
        for index, item in enumerate(value):
            _check_value(f"{path}[{index}]", item, spec["items"])


def validate_arguments(tool_: Tool, arguments: Any) -> dict[str, Any]:
    """Parse (if a JSON string) and check arguments against the tool's schema."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"The arguments are not valid JSON ({exc.msg} at position {exc.pos}).") from exc
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidInput("The arguments must be a JSON object.")
    properties = tool_.parameters.get("properties", {})
    missing = [key for key in tool_.parameters.get("required", []) if key not in arguments]
    if missing:
        raise InvalidInput(f"Missing required argument(s): {', '.join(missing)}.")
    unknown = [key for key in arguments if key not in properties]
    if unknown:
        raise InvalidInput(f"Unknown argument(s): {', '.join(unknown)}.")
    for key, value in arguments.items():
        if value is None and key not in tool_.parameters.get("required", []):
            continue
        _check_value(key, value, properties[key])
    return arguments


def call_tool(name: str, arguments: Any, *, context: ToolContext) -> ToolOutcome:
    """Validate and run a tool. Never raises for bad input or refused actions."""
    started = time.perf_counter()
    tool_ = get_tool(name)
    if tool_ is None:
        known = ", ".join(sorted(REGISTRY))
        return ToolOutcome(
            name,
            False,
            error={"code": "unknown_tool", "message": f"There is no tool named '{name}'. Available tools: {known}."},
        )
    try:
        check_verified(name, context)
        parsed = validate_arguments(tool_, arguments)
        result = tool_.func(context, **parsed)
        outcome = ToolOutcome(name, True, result=result)
    except ApplicationError as exc:
        outcome = ToolOutcome(name, False, error=exc.as_dict())
    except Exception:  # noqa: BLE001 - a bug in a tool must not break the conversation
        logger.exception("tool %s failed", name)
        outcome = ToolOutcome(
            name,
            False,
            error={
                "code": "internal_error",
                "message": "The tool failed unexpectedly. Please try again or ask for a human agent.",
            },
        )
    outcome.duration_ms = (time.perf_counter() - started) * 1000
    return outcome
