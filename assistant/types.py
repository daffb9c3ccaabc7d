"""The types the turn and both brains share: what a brain is given and what it gives back.

A brain is `Callable[[BrainRequest], BrainReply]`, or a coroutine function of that shape
(`assistant.turn.select_brain` picks one).

A brain receives (BrainRequest): the conversation, the customer's text (unredacted; the LLM
brain redacts what it sends when LLM_REDACT_PII is on), the ToolContext to run tools as the
customer, the retrieved knowledge (hits with citations, a confidence flag and the query
embedding to reuse), the stored message, the recent history and the customer profile (both
loaded on first use), the message's sentiment and an optional `on_token` callback for
streaming its final answer.

It returns (BrainReply): the answer text; the citations it used; every tool call it made
(ToolCallRecord, from `assistant.toolcalls.tool_call_run` — the only way a brain runs a tool,
so consequential calls become PendingActions and the audit log sees everything); the intent it
recognised; optionally its own sentiment; whether it asked for escalation; the model name and
token usage; whether it already streamed the text through `on_token`; and `transcript`, extra
messages to store before the answer (the LLM's tool-calling rounds). Pending actions are not
returned separately: they are the `pending_action` of the tool-call records, already created by
`action_propose`; the turn links them to the answer.

A leaf of the assistant: it imports no assistant module that imports it back (only the
redaction leaf at run time, the rest for type checking), so every other module may import it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from assistant.llm.redaction import redact
from chat.models import Conversation, Message, PendingAction, ToolCallLog
from chat.selectors import turn_context
from orders.selectors import recent_orders_summary

if TYPE_CHECKING:
    import numpy as np

    from assistant.nlu.sentiment import Sentiment
    from assistant.tools import ToolContext, ToolOutcome
    from orders.models import Customer

HISTORY_MESSAGES = 40
PROFILE_ORDERS = 5
OFFER_HUMAN = "If you'd like, I can pass this to a member of our support team — just say “talk to a person”."

# An explicit request for a person; escalation needs no brain to recognise it.
_HUMAN_REQUEST = re.compile(
    r"\b(?:(?:talk|speak|chat)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s*one|somebody|your\s+)?"
    r"(?:human|person|real\s+person|agent|representative|rep|someone|somebody|staff|manager|supervisor)"
    r"|(?:human|live|real)\s+(?:agent|person|support|being)|customer\s+service\s+(?:rep|representative|agent)"
    r"|(?:transfer|connect)\s+me\s+to\s+(?:a\s+|an\s+)?(?:human|person|agent|representative)"
    r"|^\s*(?:human|agent|representative|operator)(?:\s+please)?[.!]*\s*$)",
    re.IGNORECASE,
)


def is_human_request(text: str) -> bool:
    return bool(_HUMAN_REQUEST.search(text))


def citation_label(citation: dict[str, Any]) -> str:
    """ "Title › Heading" of a citation; an article's introduction (heading = title) is named once."""
    return " › ".join(dict.fromkeys(str(citation[key]) for key in ("title", "heading") if citation.get(key)))


@dataclass
class ToolCallRecord:
    """One tool call made during a turn and what came of it."""

    name: str
    arguments: Any  # as the assistant gave them (a JSON string from an LLM, a dict offline)
    outcome: ToolOutcome
    call_id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:16]}")
    # Set when the call was consequential and became a proposal instead of running.
    pending_action: PendingAction | None = None
    source: str = ToolCallLog.Source.MODEL

    def for_model(self) -> str:
        return self.outcome.for_model()

    def audit_row(self, *, conversation: Conversation) -> ToolCallLog:
        arguments = self.arguments
        if isinstance(arguments, str):
            arguments = {"raw": arguments}
        outcome = self.outcome.result if self.outcome.ok else self.outcome.error
        return ToolCallLog(
            customer_id=conversation.customer_id,
            conversation=conversation,
            tool=self.name[:60],
            source=self.source,
            arguments=redact(arguments),
            ok=self.outcome.ok,
            error_code=((self.outcome.error or {}).get("code") or "")[:40],
            outcome=redact(outcome),
            proposed=self.pending_action is not None,
            duration_ms=round(self.outcome.duration_ms, 3),
        )


@dataclass(frozen=True)
class CustomerProfile:
    name: str
    handle: str
    # [{"order_id": "#W1234567", "status": "delivered", "placed_at": "2026-01-02", "items": 2, "total": "84.10"}]
    recent_orders: list[dict[str, Any]] = field(default_factory=list)


def customer_profile(*, customer: Customer, recent_orders: list[dict[str, Any]] | None = None) -> CustomerProfile:
    """Name, handle and the five latest orders with status, for the LLM's context.

    `recent_orders` is orders.selectors.recent_orders_summary's answer when the caller has it.
    """
    if recent_orders is None:
        recent_orders = recent_orders_summary(customer=customer, limit=PROFILE_ORDERS)
    recent = [
        {
            "order_id": order["order_id"],
            "status": order["status"],
            "placed": order["created_at"].date().isoformat(),
            "items": order["item_count"],
        }
        for order in recent_orders
    ]
    return CustomerProfile(name=customer.full_name, handle=customer.handle, recent_orders=recent)


@dataclass
class RetrievedContext:
    """Knowledge retrieved for this turn. `hits` are knowledge.selectors hits (`.citation`, `.text`)."""

    hits: list[Any] = field(default_factory=list)
    confident: bool = False
    # Computed once per turn; brains reuse it (intent classifier, catalog search).
    query_embedding: np.ndarray | None = None


@dataclass
class BrainRequest:
    conversation: Conversation
    text: str
    context: ToolContext
    retrieved: RetrievedContext
    message: Message  # the customer's message, stored
    sentiment: Sentiment
    on_token: Callable[[str], None] | None = None

    @cached_property
    def history(self) -> list[Message]:
        """Recent messages, oldest first, ending with `message` (only what a context is built from)."""
        return self._context[0]

    @cached_property
    def profile(self) -> CustomerProfile:
        customer = self.context.customer
        if customer is None:
            return CustomerProfile(name="", handle="")
        return customer_profile(customer=customer, recent_orders=self._context[1])

    @cached_property
    def _context(self) -> tuple[list[Message], list[dict[str, Any]]]:
        # History and profile are read together, once, on first use: the LLM's context needs
        # both, and many offline turns (policy, small talk) need neither.
        return turn_context(
            conversation=self.conversation,
            upto=self.message,
            history_limit=HISTORY_MESSAGES,
            orders_limit=PROFILE_ORDERS,
        )


@dataclass
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, other: TokenUsage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


@dataclass
class BrainReply:
    text: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    intent: str = ""
    sentiment: Sentiment | None = None
    # The brain wants a person to take over (e.g. a complaint it cannot resolve).
    escalate: bool = False
    escalation_reason: str = ""
    model: str = "offline"
    usage: TokenUsage = field(default_factory=TokenUsage)
    # Time spent waiting for an LLM provider, excluded from "server time" in benchmarks.
    llm_ms: float = 0.0
    streamed: bool = False
    # Messages to store before the answer (unsaved; the turn sets conversation and order).
    transcript: list[Message] = field(default_factory=list)

    @property
    def proposed_actions(self) -> list[PendingAction]:
        return [record.pending_action for record in self.tool_calls if record.pending_action is not None]


# The offline brain is a function; the LLM brain a coroutine function, awaited on the event loop.
Brain = Callable[[BrainRequest], BrainReply] | Callable[[BrainRequest], Awaitable[BrainReply]]
