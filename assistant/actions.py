"""Consequential actions: proposed by an assistant, executed only on the customer's word.

Shared by the LLM and the offline assistant. The life of an action:

    action_propose  → PendingAction(status=proposed, expires_at=now + CHAT_ACTION_EXPIRY_MINUTES)
    action_confirm  → runs the tool once, as the customer; status confirmed, result stored
    action_decline  → status declined, nothing runs
    (time passes)   → status expired; confirming then is refused
    a newer proposal for the same order → status superseded; confirming then is refused

Before anything is proposed, the action is run once inside a savepoint and rolled back
(`_check_eligibility`): the rules that will judge the confirmation (status, the self-service
refund limit, ownership, stock, gift-card balance) judge the proposal, so a customer is never
shown a card that can only fail.

A typed "yes"/"no" answers only the question in the assistant's latest message
(`action_asked`); a card shown earlier is confirmed only by its own buttons.

Confirmation is the only path to a consequential tool's function. Exactly-once: the row is
locked (SELECT FOR UPDATE) and moved out of "proposed" in the same transaction that runs the
tool, so a double click, a replayed request or a "yes" racing a button press finds it
already confirmed and gets the stored result back instead of a second refund.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone

from assistant.tools import ToolContext, call_tool, get_tool
from assistant.tools.registry import Tool, check_verified, validate_arguments
from assistant.types import ToolCallRecord
from chat.models import Conversation, Message, PendingAction, ToolCallLog
from orders import selectors
from supportbot.errors import ApplicationError, InvalidInput, NotFound, RuleViolation

if TYPE_CHECKING:
    from orders.models import Customer

logger = logging.getLogger(__name__)

# Whole-message replies that mean "yes, do it" / "no, don't" when exactly one action waits.
_AFFIRM = re.compile(
    r"^\s*(?:yes|yeah|yep|yup|y|sure|ok|okay|confirm(?:ed)?|go ahead|do it|please do|correct|that'?s right|"
    r"yes,? (?:please|go ahead|do it|confirm)|absolutely|of course)(?:,? please)?\s*[.!]*\s*$",
    re.IGNORECASE,
)
_DENY = re.compile(
    r"^\s*(?:no|nope|nah|n|don'?t|do not|never ?mind|no,? (?:thanks|thank you)|decline|cancel that|stop)\s*[.!]*\s*$",
    re.IGNORECASE,
)


def is_affirmation(text: str) -> bool:
    return bool(_AFFIRM.match(text))


def is_denial(text: str) -> bool:
    return bool(_DENY.match(text))


@dataclass
class ActionDecision:
    """What a confirm/decline did: the action as it now stands and the messages it added."""

    action: PendingAction
    messages: list[Message] = field(default_factory=list)
    # True when the action had already been decided and nothing was done this time.
    replayed: bool = False


@transaction.atomic
def action_propose(
    *,
    conversation: Conversation,
    context: ToolContext,
    tool_name: str,
    arguments: Any,
    tool_call_id: str = "",
) -> PendingAction:
    """Record a consequential tool call for the customer to confirm; nothing is executed.

    Arguments are validated against the tool's schema and described in plain words by the
    tool's `describe(context, **arguments)`, which resolves ids as `context.customer` — so a
    call naming another customer's order fails here (NotFound), before anything is shown.
    The same proposal twice in one turn (same tool and arguments, not yet shown) returns the
    first one. A proposal shown earlier for the same order (or, for account changes, the same
    tool) is superseded: its card says so, and only the newest can be confirmed.
    """
    tool = get_tool(tool_name)
    if tool is None or not tool.consequential:
        raise InvalidInput(f"'{tool_name}' is not an action that needs confirmation.")
    if context.customer is None or context.customer.pk != conversation.customer_id:
        raise NotFound("That conversation was not found.")
    check_verified(tool_name, context)
    parsed = validate_arguments(tool, arguments)
    _check_ownership(context=context, arguments=parsed)
    existing = (
        PendingAction.objects.filter(
            conversation=conversation,
            tool=tool_name,
            arguments=parsed,
            status=PendingAction.Status.PROPOSED,
            message__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .order_by("-created_at")
        .first()
    )
    if existing is not None:
        return existing
    _check_eligibility(tool=tool, context=context, arguments=parsed)
    description = tool.describe(context, **parsed) if tool.describe else _generic_description(tool_name, parsed)
    now = timezone.now()
    _supersede_shown(customer_id=conversation.customer_id, tool_name=tool_name, arguments=parsed, now=now)
    return PendingAction.objects.create(
        conversation=conversation,
        customer_id=conversation.customer_id,
        tool=tool_name,
        arguments=parsed,
        description=description,
        tool_call_id=tool_call_id[:100],
        idempotency_key=uuid.uuid4().hex,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.CHAT_ACTION_EXPIRY_MINUTES),
    )


def _check_ownership(*, context: ToolContext, arguments: dict[str, Any]) -> None:
    """Refuse a proposal naming an order, payment method or account that isn't the customer's.

    The tools refuse again when the action runs; checking here too means the customer is
    never shown a confirmation card for someone else's order, whatever the model was told.
    """
    customer = context.customer
    if "order_id" in arguments:
        selectors.check_order_access(customer=customer, order_id=arguments["order_id"])
    if (
        "payment_method_id" in arguments
        and selectors.payment_method_for(customer=customer, payment_method_id=arguments["payment_method_id"]) is None
    ):
        raise NotFound(f"We couldn't find payment method {arguments['payment_method_id']} on your account.")
    if "user_id" in arguments and customer is not None and arguments["user_id"] != customer.handle:
        raise NotFound("We couldn't find that account.")


class _DryRunDone(Exception):
    """Raised inside the eligibility savepoint to roll the trial run back."""


def _check_eligibility(*, tool: Tool, context: ToolContext, arguments: dict[str, Any]) -> None:
    """Refuse now what the confirmation would refuse, by running the action and rolling it back.

    The services check their rules under the same row locks they take for real, so this is
    exactly the verdict a confirmation would get at this moment. Mail and tasks are queued
    with on_commit and are discarded with the savepoint. The customer can still be refused
    at confirmation time if something changes in between (the order ships meanwhile).
    A tool with effects outside the database brings its own `check` instead.
    """
    if tool.check is not None:
        tool.check(context, **arguments)
        return
    try:
        with transaction.atomic():
            tool.func(context, **arguments)
            raise _DryRunDone
    except _DryRunDone:
        return
    except ApplicationError:
        raise
    except Exception:  # noqa: BLE001 - a bug in a trial run must not hide the card; confirmation reports it
        logger.exception("eligibility check of %s failed", tool.name)


def _supersede_shown(*, customer_id: int, tool_name: str, arguments: dict[str, Any], now: Any) -> int:
    """Mark the customer's earlier, already shown proposals for the same target as superseded."""
    same_target = PendingAction.objects.filter(
        customer_id=customer_id, status=PendingAction.Status.PROPOSED, message__isnull=False
    )
    if "order_id" in arguments:
        same_target = same_target.filter(arguments__order_id=arguments["order_id"])
    else:
        same_target = same_target.filter(tool=tool_name)
    return same_target.update(status=PendingAction.Status.SUPERSEDED, decided_at=now)


def action_asked(*, conversation: Conversation, before_message_id: int) -> PendingAction | None:
    """The one action the assistant's latest message (before `before_message_id`) asked to confirm.

    None when that message showed no card, or more than one: a typed yes/no must never be
    taken as consent to a card the customer is no longer looking at, nor to one of two.
    """
    latest = (
        Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT, pk__lt=before_message_id)
        .order_by("-pk")
        .values("pk")[:1]
    )
    asked = list(PendingAction.objects.filter(conversation=conversation, message_id=Subquery(latest))[:2])
    return asked[0] if len(asked) == 1 else None


def action_supersede(*, action_id: int, customer: Customer) -> None:
    """Withdraw a waiting proposal that a newer one replaces (its card says so); nothing runs."""
    PendingAction.objects.filter(pk=action_id, customer=customer, status=PendingAction.Status.PROPOSED).update(
        status=PendingAction.Status.SUPERSEDED, decided_at=timezone.now()
    )


def action_lapsed_reply(*, action: PendingAction) -> Message:
    """Store and return the answer to a "yes"/"no" typed for an expired or superseded action."""
    return Message.objects.create(
        conversation=action.conversation,
        role=Message.Role.ASSISTANT,
        text=_refusal_for(action).message,
        model="actions",
        created_at=timezone.now(),
    )


def _generic_description(tool_name: str, arguments: dict[str, Any]) -> str:
    details = ", ".join(f"{key}: {value}" for key, value in arguments.items())
    return f"{tool_name.replace('_', ' ').capitalize()} ({details})"


def _lock_for_customer(*, action_id: int, customer: Customer) -> PendingAction:
    # Filtering by customer makes someone else's action indistinguishable from a missing one.
    action = (
        PendingAction.objects.select_for_update()
        .select_related("conversation")
        .filter(pk=action_id, customer=customer)
        .first()
    )
    if action is None:
        raise NotFound("That action was not found.")
    return action


def _refusal_for(action: PendingAction) -> RuleViolation:
    if action.status == PendingAction.Status.DECLINED:
        return RuleViolation("You declined this action, so it was not carried out. Ask again if you want it after all.")
    if action.status == PendingAction.Status.SUPERSEDED:
        return RuleViolation(
            "A newer request for the same order replaced this one, so nothing was done here. Please use the newest request."
        )
    return RuleViolation(
        f"This request expired after {settings.CHAT_ACTION_EXPIRY_MINUTES} minutes without a confirmation, "
        "so nothing was done. Ask again if you still want it."
    )


def action_confirm(*, action_id: int, customer: Customer, idempotency_key: str | None = None) -> ActionDecision:
    """Execute a proposed action as `customer`, exactly once.

    A confirmed action returns its stored result (`replayed=True`) and runs nothing. A
    declined or expired one is refused (RuleViolation). `idempotency_key`, when given (the
    confirmation button carries it), must be the action's own key: a confirmation built for
    one proposal can't confirm another. The tool's refusal (e.g. the order shipped meanwhile)
    is a result, not an exception: the action is confirmed with `result.ok` false.
    """
    refusal: RuleViolation | None = None
    with transaction.atomic():
        action = _lock_for_customer(action_id=action_id, customer=customer)
        if idempotency_key is not None and idempotency_key != action.idempotency_key:
            raise InvalidInput("This confirmation does not match the action; reload the conversation and try again.")
        if action.status == PendingAction.Status.CONFIRMED:
            return ActionDecision(action=action, replayed=True)
        if action.is_expired:
            action.status = PendingAction.Status.EXPIRED
            action.decided_at = timezone.now()
            action.save(update_fields=["status", "decided_at"])
        if action.status != PendingAction.Status.PROPOSED:
            refusal = _refusal_for(action)
        else:
            decision = _execute(action=action, customer=customer)
    # Raised outside the block so the expiry just recorded is committed, not rolled back.
    if refusal is not None:
        raise refusal
    return decision


def _execute(*, action: PendingAction, customer: Customer) -> ActionDecision:
    """Run the tool (caller holds the lock on `action`, status proposed) and record the result."""
    conversation = action.conversation
    context = ToolContext(customer=customer, conversation_id=conversation.pk, channel=conversation.channel)
    started = time.perf_counter()
    outcome = call_tool(action.tool, action.arguments, context=context)
    now = timezone.now()
    action.status = PendingAction.Status.CONFIRMED
    action.decided_at = now
    action.result = json.loads(json.dumps(outcome.as_dict(), default=str))
    action.save(update_fields=["status", "decided_at", "result"])
    record = ToolCallRecord(
        name=action.tool, arguments=action.arguments, outcome=outcome, source=ToolCallLog.Source.CONFIRMATION
    )
    record.audit_row(conversation=conversation).save()
    if outcome.ok:
        text = f"Done — {_lowercase_first(action.description)}"
        status = outcome.result.get("status") if isinstance(outcome.result, dict) else None
        if status:
            text += f" The order's status is now “{status}”."
    else:
        message = (outcome.error or {}).get("message") or "The store refused the change."
        text = f"I couldn't do that: {message}"
    tool_message = Message(
        conversation=conversation,
        role=Message.Role.TOOL,
        tool_result={"action_id": action.pk, "confirmed_by_customer": True, **action.result},
        latency_ms=round((time.perf_counter() - started) * 1000),
        created_at=now,
    )
    reply = Message(conversation=conversation, role=Message.Role.ASSISTANT, text=text, created_at=now, model="actions")
    Message.objects.bulk_create([tool_message, reply])
    Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=now)
    return ActionDecision(action=action, messages=[tool_message, reply])


def _lowercase_first(text: str) -> str:
    text = text.strip()
    if not text.endswith((".", "!", "?")):
        text += "."
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


@transaction.atomic
def action_decline(*, action_id: int, customer: Customer) -> ActionDecision:
    """Decline a proposed action: it will never run. Declining twice is harmless."""
    action = _lock_for_customer(action_id=action_id, customer=customer)
    if action.status == PendingAction.Status.DECLINED:
        return ActionDecision(action=action, replayed=True)
    if action.status == PendingAction.Status.CONFIRMED:
        raise RuleViolation("This action was already carried out, so it can't be declined now.")
    if action.status in {PendingAction.Status.EXPIRED, PendingAction.Status.SUPERSEDED}:
        return ActionDecision(action=action, replayed=True)
    now = timezone.now()
    action.status = PendingAction.Status.DECLINED
    action.decided_at = now
    action.save(update_fields=["status", "decided_at"])
    reply = Message.objects.create(
        conversation=action.conversation,
        role=Message.Role.ASSISTANT,
        text=f"Okay, I won't do that. Nothing was changed ({_lowercase_first(action.description)[:-1]}).",
        model="actions",
        created_at=now,
    )
    Conversation.objects.filter(pk=action.conversation_id).update(last_activity_at=now)
    return ActionDecision(action=action, messages=[reply])


def actions_waiting(*, conversation: Conversation) -> list[PendingAction]:
    """The conversation's proposals shown to the customer and still waiting, oldest first."""
    return list(
        PendingAction.objects.filter(
            conversation=conversation,
            status=PendingAction.Status.PROPOSED,
            message__isnull=False,
            expires_at__gt=timezone.now(),
        )
    )


def actions_expire_stale(*, conversation: Conversation) -> int:
    """Mark the conversation's proposals past their expiry as expired; returns how many."""
    now = timezone.now()
    return PendingAction.objects.filter(
        conversation=conversation, status=PendingAction.Status.PROPOSED, expires_at__lte=now
    ).update(status=PendingAction.Status.EXPIRED, decided_at=now)
