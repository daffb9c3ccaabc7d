"""Scripted end-to-end conversations: the suite file format, its validation and the checks.

A suite is JSON Lines, one conversation per line:

    {"id": "cancel-by-mistake", "customer": "yusuf.rossi7301@example.com",
     "turns": [{"say": "cancel #W2378156, ordered it by mistake",
                "expect": {"proposes": {"name": "cancel_pending_order", "arguments": {"order_id": "#W2378156"}}}},
               {"confirm": true, "expect": {"executes": "cancel_pending_order"}}],
     "end": {"orders": {"#W2378156": {"status": "cancelled"}}}}

`suite_read` parses and checks the shape (every error names its line), `suite_check_store` checks
the customers and orders exist, both before anything runs. `conversation_run` plays one
conversation through the web chat's own services — `chat_turn` for what the customer says,
`action_confirm` / `action_decline` for the card buttons — inside a transaction that is rolled
back afterwards, so every conversation starts from the same store and the eval leaves none of
its conversations, tickets or order changes behind (mail queued on commit is never sent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max

from assistant import actions
from assistant.llm.client import llm_enabled
from assistant.tools import get_tool
from assistant.turn import chat_turn
from chat.models import Conversation, Message, PendingAction, ToolCallLog
from chat.services.conversations import conversation_start
from orders.models import Customer
from orders.selectors import customer_find_by_email, order_details
from orders.services import customer_login_ensure
from supportbot.errors import ApplicationError, NotFound
from tickets.selectors import ticket_active_for_conversation

CONVERSATION_KEYS = {"id", "customer", "turns", "end"}
TURN_KINDS = ("say", "confirm", "decline")
EXPECT_KEYS = {
    "says",
    "not_says",
    "intent",
    "proposes",
    "no_proposal",
    "executes",
    "executes_nothing",
    "calls",
    "cites",
    "escalates",
}


class SuiteError(ValueError):
    """A suite file that can't be run; the message names the line."""


@dataclass(frozen=True)
class Turn:
    kind: str  # one of TURN_KINDS
    text: str  # what the customer says; empty for a button press
    expect: dict[str, Any]


@dataclass(frozen=True)
class ConversationSpec:
    id: str
    customer: str  # the customer's email
    turns: list[Turn]
    end_orders: dict[str, dict[str, Any]]
    line: int


@dataclass
class ConversationResult:
    spec: ConversationSpec
    failure: str = ""  # the first failing check; empty when every check held
    transcript: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failure


# --- Reading and validating -----------------------------------------------------------------


def suite_read(path: Path) -> list[ConversationSpec]:
    """Parse a suite file; SuiteError naming the line for anything malformed (blank lines are skipped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise SuiteError(f"{path}: can't be read ({error}).") from error
    suite: list[ConversationSpec] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as error:
            raise SuiteError(f"line {number}: not valid JSON ({error.msg} at column {error.colno}).") from error
        spec = _conversation(record, line=number)
        if spec.id in seen:
            raise SuiteError(f"line {number}: conversation id {spec.id!r} is already used on line {seen[spec.id]}.")
        seen[spec.id] = number
        suite.append(spec)
    if not suite:
        raise SuiteError(f"{path}: no conversations.")
    return suite


def _fail(line: int, message: str) -> SuiteError:
    return SuiteError(f"line {line}: {message}")


def _unknown_keys(record: dict[str, Any], allowed: set[str], *, line: int, where: str) -> None:
    unknown = sorted(set(record) - allowed)
    if unknown:
        raise _fail(line, f"unknown key {unknown[0]!r} in {where} (expected {', '.join(sorted(allowed))}).")


def _conversation(record: Any, *, line: int) -> ConversationSpec:
    if not isinstance(record, dict):
        raise _fail(line, "a conversation must be a JSON object.")
    _unknown_keys(record, CONVERSATION_KEYS, line=line, where="the conversation")
    for key in ("id", "customer"):
        if not isinstance(record.get(key), str) or not record[key].strip():
            raise _fail(line, f"{key!r} is missing or not a non-empty string.")
    turns = record.get("turns")
    if not isinstance(turns, list) or not turns:
        raise _fail(line, "'turns' is missing or not a non-empty list.")
    end = record.get("end", {})
    if not isinstance(end, dict):
        raise _fail(line, "'end' must be an object.")
    _unknown_keys(end, {"orders"}, line=line, where="'end'")
    end_orders = end.get("orders", {})
    if not isinstance(end_orders, dict) or not all(
        isinstance(fields, dict) and fields for fields in end_orders.values()
    ):
        raise _fail(line, "'end.orders' must map order ids to objects of {field: value}.")
    return ConversationSpec(
        id=record["id"],
        customer=record["customer"].strip(),
        turns=[_turn(turn, line=line, number=index) for index, turn in enumerate(turns, start=1)],
        end_orders=end_orders,
        line=line,
    )


def _turn(record: Any, *, line: int, number: int) -> Turn:
    where = f"turn {number}"
    if not isinstance(record, dict):
        raise _fail(line, f"{where} must be an object.")
    _unknown_keys(record, {*TURN_KINDS, "expect"}, line=line, where=where)
    kinds = [kind for kind in TURN_KINDS if kind in record]
    if len(kinds) != 1:
        raise _fail(line, f"{where} must have exactly one of 'say', 'confirm' or 'decline'.")
    kind = kinds[0]
    if kind == "say" and (not isinstance(record["say"], str) or not record["say"].strip()):
        raise _fail(line, f"{where}: 'say' must be a non-empty string.")
    if kind != "say" and record[kind] is not True:
        raise _fail(line, f"{where}: '{kind}' must be true.")
    expect = record.get("expect", {})
    if not isinstance(expect, dict):
        raise _fail(line, f"{where}: 'expect' must be an object.")
    _unknown_keys(expect, EXPECT_KEYS, line=line, where=f"{where}'s expect")
    for key, value in expect.items():
        problem = _expect_problem(key, value)
        if problem:
            raise _fail(line, f"{where}: expect.{key} {problem}.")
    return Turn(kind=kind, text=record["say"].strip() if kind == "say" else "", expect=expect)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) and item for item in value)


def _expect_problem(key: str, value: Any) -> str:
    """What is wrong with one expectation's value, or ''."""
    if key in {"says", "not_says"}:
        ok = isinstance(value, list) and all(
            (isinstance(item, str) and item) or (_strings(item) and item) for item in value
        )
        return "" if ok else "must be a list of strings (or lists of alternative strings)"
    if key in {"calls", "cites"}:
        if not _strings(value):
            return "must be a list of strings"
        unknown = [name for name in value if key == "calls" and get_tool(name) is None]
        return f"names an unknown tool {unknown[0]!r}" if unknown else ""
    if key in {"intent", "executes"}:
        if not isinstance(value, str) or not value:
            return "must be a non-empty string"
        return f"names an unknown tool {value!r}" if key == "executes" and get_tool(value) is None else ""
    if key in {"no_proposal", "executes_nothing"}:
        return "" if value is True else "must be true"
    if key == "escalates":
        return "" if isinstance(value, bool) else "must be true or false"
    # proposes
    if not isinstance(value, dict) or set(value) - {"name", "arguments"} or not isinstance(value.get("name"), str):
        return "must be {name, arguments}"
    if get_tool(value["name"]) is None:
        return f"names an unknown tool {value['name']!r}"
    return "" if isinstance(value.get("arguments", {}), dict) else "arguments must be an object"


def suite_check_store(suite: list[ConversationSpec]) -> None:
    """Every customer and every order in `end` exists in the store; SuiteError naming the line otherwise."""
    for spec in suite:
        try:
            customer_find_by_email(spec.customer)
        except NotFound:
            raise _fail(spec.line, f"no customer with email {spec.customer!r} in the store.") from None
        for order_id in spec.end_orders:
            try:
                order_details(order_id)
            except NotFound:
                raise _fail(spec.line, f"order {order_id!r} in 'end' is not in the store.") from None


# --- Running ----------------------------------------------------------------------------------


class _RollBack(Exception):
    """Raised at the end of a conversation to undo everything it did."""


def conversation_run(spec: ConversationSpec) -> ConversationResult:
    """Play `spec` as its customer and check each turn, then undo everything it changed."""
    result = ConversationResult(spec=spec)
    try:
        with transaction.atomic():
            _play(spec, result)
            raise _RollBack
    except _RollBack:
        pass
    return result


def _play(spec: ConversationSpec, result: ConversationResult) -> None:
    customer = customer_login_ensure(customer=customer_find_by_email(spec.customer))
    conversation = conversation_start(customer=customer, channel=Conversation.Channel.WEB)
    for number, turn in enumerate(spec.turns, start=1):
        mark = _Mark.take(conversation)
        result.transcript.append(f"  customer> {turn.text}" if turn.kind == "say" else f"  [presses {turn.kind}]")
        refusal = _take_turn(turn, conversation=conversation, customer=customer)
        seen = _TurnRecord.since(mark, conversation=conversation, refusal=refusal)
        result.transcript.extend(f"  assistant> {text}" for text in seen.replies)
        result.transcript.extend(f"    (tool {name})" for name in seen.calls)
        failure = _check_turn(turn.expect, seen, conversation=conversation)
        if failure:
            result.failure = f"turn {number} ({turn.kind}): {failure}"
            return
    result.failure = _check_end(spec.end_orders)


def _take_turn(turn: Turn, *, conversation: Conversation, customer: Customer) -> str:
    """Say the text or press the one waiting card's button, as the web chat does; a refusal's text or ''."""
    try:
        if turn.kind == "say":
            assert customer.user is not None  # customer_login_ensure gave them one
            chat_turn(conversation=conversation, text=turn.text, user=customer.user)
            return ""
        waiting = actions.actions_waiting(conversation=conversation)
        if len(waiting) != 1:
            return f"(no button to press: {len(waiting)} actions waiting)"
        action = waiting[0]
        if turn.kind == "confirm":
            actions.action_confirm(action_id=action.pk, customer=customer, idempotency_key=action.idempotency_key)
        else:
            actions.action_decline(action_id=action.pk, customer=customer)
    except ApplicationError as error:
        return error.message
    return ""


@dataclass(frozen=True)
class _Mark:
    """The newest rows of a conversation before a turn; what comes after belongs to the turn."""

    message: int
    log: int
    action: int

    @classmethod
    def take(cls, conversation: Conversation) -> _Mark:
        def newest(model: type[Message | ToolCallLog | PendingAction]) -> int:
            return model.objects.filter(conversation=conversation).aggregate(pk=Max("pk"))["pk"] or 0

        return cls(message=newest(Message), log=newest(ToolCallLog), action=newest(PendingAction))


@dataclass
class _TurnRecord:
    replies: list[str]
    intents: list[str]
    citations: list[str]  # article slugs
    calls: list[str]
    executed: list[str]
    proposed: list[PendingAction]

    @classmethod
    def since(cls, mark: _Mark, *, conversation: Conversation, refusal: str) -> _TurnRecord:
        answers = list(
            Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT, pk__gt=mark.message)
        )
        logs = list(ToolCallLog.objects.filter(conversation=conversation, pk__gt=mark.log).order_by("pk"))
        return cls(
            replies=[message.text for message in answers] + ([refusal] if refusal else []),
            intents=[message.intent for message in answers if message.intent],
            citations=[
                str(citation.get("id", "")).split("#")[0] for message in answers for citation in message.citations
            ],
            calls=[log.tool for log in logs],
            executed=[log.tool for log in logs if log.source == ToolCallLog.Source.CONFIRMATION and log.ok],
            proposed=list(PendingAction.objects.filter(conversation=conversation, pk__gt=mark.action)),
        )


def _matches(expected: Any, actual: Any) -> bool:
    """Expected arguments are a subset of the actual ones; lists compare as sets, text case-insensitively."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _matches(value, actual[key]) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and {json.dumps(item, sort_keys=True) for item in expected} == {
            json.dumps(item, sort_keys=True) for item in actual
        }
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.strip().lower() == actual.strip().lower()
    return bool(expected == actual)


def _check_turn(expect: dict[str, Any], seen: _TurnRecord, *, conversation: Conversation) -> str:
    """The first expectation of the turn that does not hold, described; '' when all hold."""
    reply = "\n".join(seen.replies).lower()
    for key, value in expect.items():
        if key == "says":
            for entry in value:
                options = [entry] if isinstance(entry, str) else entry
                if not any(option.lower() in reply for option in options):
                    return f"says {' or '.join(repr(option) for option in options)} — the reply did not"
        elif key == "not_says":
            for entry in value:
                for option in [entry] if isinstance(entry, str) else entry:
                    if option.lower() in reply:
                        return f"not_says {option!r} — the reply said it"
        elif key == "intent":
            # The intent label is the offline assistant's; an LLM's answer has none to compare.
            if not llm_enabled() and value not in seen.intents:
                return f"intent {value!r} — got {', '.join(seen.intents) or 'none'}"
        elif key == "proposes":
            wanted = value.get("arguments", {})
            if not any(action.tool == value["name"] and _matches(wanted, action.arguments) for action in seen.proposed):
                made = "; ".join(f"{action.tool} {json.dumps(action.arguments)}" for action in seen.proposed)
                return f"proposes {value['name']} {json.dumps(wanted)} — proposed {made or 'nothing'}"
        elif key == "no_proposal":
            if seen.proposed:
                return f"no_proposal — proposed {', '.join(action.tool for action in seen.proposed)}"
        elif key == "executes":
            if value not in seen.executed:
                return f"executes {value} — executed {', '.join(seen.executed) or 'nothing'}"
        elif key == "executes_nothing":
            if seen.executed:
                return f"executes_nothing — executed {', '.join(seen.executed)}"
        elif key == "calls":
            missing = [name for name in value if name not in seen.calls]
            if missing:
                return f"calls {', '.join(missing)} — called {', '.join(seen.calls) or 'no tool'}"
        elif key == "cites":
            if not set(value) & set(seen.citations):
                return (
                    f"cites one of {', '.join(value)} — cited {', '.join(dict.fromkeys(seen.citations)) or 'nothing'}"
                )
        elif key == "escalates":
            escalated = _escalated(conversation)
            if escalated != value:
                return "escalates — no ticket was opened" if value else "escalates false — a ticket was opened"
    return ""


def _escalated(conversation: Conversation) -> bool:
    conversation.refresh_from_db(fields=["status"])
    return (
        conversation.status == Conversation.Status.ESCALATED
        and ticket_active_for_conversation(conversation=conversation) is not None
    )


def _check_end(end_orders: dict[str, dict[str, Any]]) -> str:
    """The first order field that differs from get_order_details after the last turn; '' when all match."""
    for order_id, fields in end_orders.items():
        details = order_details(order_id)
        for name, wanted in fields.items():
            if name not in details:
                return f"end: order {order_id} has no field {name!r}"
            if not _matches(wanted, details[name]):
                return f"end: order {order_id} {name} is {json.dumps(details[name])}, expected {json.dumps(wanted)}"
    return ""
