"""Running one tool call for an assistant (LLM or offline), with the confirmation rule applied.

Both assistants call `tool_call_run` for every tool they want. A read-only tool runs at once;
a consequential one (cancel, modify, return, exchange, modify address) never runs here: it
becomes a PendingAction through `chat.services.actions.action_propose`, and the outcome the
assistant sees says so. The records come back to the agent, which writes the audit log
(ToolCallLog, redacted) for the whole turn in one insert.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chat.models import ToolCallLog
from chat.services.redaction import redact
from chat.services.tools import ToolContext, ToolOutcome, call_tool, get_tool
from supportbot.errors import ApplicationError

if TYPE_CHECKING:
    from chat.models import Conversation, PendingAction


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


def tool_call_run(
    *,
    name: str,
    arguments: Any,
    context: ToolContext,
    conversation: Conversation,
    call_id: str | None = None,
    source: str = ToolCallLog.Source.MODEL,
) -> ToolCallRecord:
    """Run (or, if consequential, propose) one tool call. Never raises for bad calls.

    `context` must carry the customer of `conversation` — built by the agent from the
    authenticated user, never from anything the assistant said.
    """
    from chat.services.actions import action_propose

    tool = get_tool(name)
    if tool is not None and tool.consequential:
        started = time.perf_counter()
        action: PendingAction | None = None
        try:
            proposed = action_propose(
                conversation=conversation, context=context, tool_name=name, arguments=arguments, tool_call_id=call_id or ""
            )
        except ApplicationError as exc:
            outcome = ToolOutcome(name, False, error=exc.as_dict())
        else:
            action = proposed
            outcome = ToolOutcome(
                name,
                True,
                result={
                    "status": "awaiting_customer_confirmation",
                    "action_id": proposed.pk,
                    "description": proposed.description,
                    "note": "Nothing has been done yet. The customer now sees this action with Confirm and "
                    "Decline buttons; it runs only if they confirm. Tell them what will happen and ask them to confirm.",
                },
            )
        outcome.duration_ms = (time.perf_counter() - started) * 1000
        record = ToolCallRecord(name=name, arguments=arguments, outcome=outcome, pending_action=action, source=source)
    else:
        outcome = call_tool(name, arguments, context=context)
        record = ToolCallRecord(name=name, arguments=arguments, outcome=outcome, source=source)
    if call_id:
        record.call_id = call_id
    return record
