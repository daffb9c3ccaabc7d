"""Running one tool call for an assistant (LLM or offline), with the confirmation rule applied.

Both assistants call `tool_call_run` for every tool they want. A read-only tool runs at once;
a consequential one (cancel, modify, return, exchange, modify address) never runs here: it
becomes a PendingAction through `assistant.actions.action_propose`, and the outcome the
assistant sees says so. The records (assistant.types.ToolCallRecord) come back to the turn, which writes the audit log
(ToolCallLog, redacted) for the whole turn in one insert.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from assistant.actions import action_propose
from assistant.tools import ToolContext, ToolOutcome, call_tool, get_tool
from assistant.types import ToolCallRecord
from chat.models import ToolCallLog
from supportbot.errors import ApplicationError

if TYPE_CHECKING:
    from chat.models import Conversation, PendingAction


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
    tool = get_tool(name)
    if tool is not None and tool.consequential:
        started = time.perf_counter()
        action: PendingAction | None = None
        try:
            proposed = action_propose(
                conversation=conversation,
                context=context,
                tool_name=name,
                arguments=arguments,
                tool_call_id=call_id or "",
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
