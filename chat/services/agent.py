"""The chat turn: one entry point, two interchangeable "brains".

    chat_turn(*, conversation, text, user, on_token=None) -> list[Message]

is the only way a customer message becomes an answer: the web chat, the JSON API and
`manage.py chat` all call it. It returns the assistant messages it persisted, in order.

What the turn does, in order
 1. Checks the conversation belongs to `user`'s customer (NotFound otherwise), stores the
    customer's message with its sentiment.
 2. Handles what needs no brain: "yes"/"no" when the assistant's latest message asked to
    confirm exactly one action (`chat.services.actions.action_asked`), an explicit request
    for a person, and a second very negative message in a row (both escalate:
    `chat.services.escalation`). A yes/no to anything else is the brain's to read.
 3. Retrieves knowledge once (the query embedding is computed once and shared) and builds a
    short customer profile.
 4. Asks the brain for a reply, then persists everything in one transaction: intermediate
    messages, the answer with its citations, latency and tokens, the audit log, the link
    from proposed actions to the answer that shows them, the cached intent/sentiment.
A brain that raises is answered with an apology and the offer of a person; the customer's
message is already stored. Nothing here raises for a customer except bad input
(InvalidInput: empty or over-long text) and someone else's conversation (NotFound).

The brain seam
--------------
A brain is `Callable[[BrainRequest], BrainReply]`. `select_brain()` picks one:
  * LLM settings present (LLM_BASE_URL and LLM_MODEL) → `chat.services.llm_brain.respond`;
  * otherwise the offline assistant, `chat.services.offline.respond`;
  * if that package is absent, `fallback_respond` (an apology and the offer of a person).

A brain receives (BrainRequest): the conversation, the customer's text (unredacted; the LLM
brain redacts what it sends when LLM_REDACT_PII is on), the ToolContext to run tools as the
customer, the retrieved knowledge (hits with citations, a confidence flag and the query
embedding to reuse), the stored message, the recent history and the customer profile (both
loaded on first use), the message's sentiment and an optional `on_token` callback for
streaming its final answer.

It returns (BrainReply): the answer text; the citations it used; every tool call it made
(ToolCallRecord, from `chat.services.toolcalls.tool_call_run` — the only way a brain runs a
tool, so consequential calls become PendingActions and the audit log sees everything); the
intent it recognised; optionally its own sentiment; whether it asked for escalation; the
model name and token usage; whether it already streamed the text through `on_token`; and
`transcript`, extra messages to store before the answer (the LLM's tool-calling rounds).
Pending actions are not returned separately: they are the `pending_action` of the tool-call
records, already created by `action_propose`; the agent links them to the answer.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from chat.limits import MAX_MESSAGE_CHARS
from chat.models import Conversation, Message, PendingAction
from chat.nlu.sentiment import Sentiment, analyze_sentiment
from chat.services import actions as actions_service
from chat.services import escalation
from chat.services.toolcalls import ToolCallRecord
from chat.services.tools import ToolContext
from orders.selectors import access_customer_for_user
from supportbot.errors import InvalidInput, NotFound
from supportbot.sql import assign_ids, insert_values
from tickets.handoff import handoff_route_customer_message

if TYPE_CHECKING:
    import numpy as np
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from orders.models import Customer

logger = logging.getLogger(__name__)

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


# --- The seam ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomerProfile:
    name: str
    handle: str
    # [{"order_id": "#W1234567", "status": "delivered", "placed_at": "2026-01-02", "items": 2, "total": "84.10"}]
    recent_orders: list[dict[str, Any]] = field(default_factory=list)


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
        # both (one round trip instead of two), and many offline turns (policy, small talk)
        # need neither.
        from chat.selectors import turn_context

        return turn_context(conversation=self.conversation, upto=self.message, history_limit=HISTORY_MESSAGES,
                            orders_limit=PROFILE_ORDERS)


def citation_label(citation: dict[str, Any]) -> str:
    """"Title › Heading" of a citation; an article's introduction (heading = title) is named once."""
    return " › ".join(dict.fromkeys(str(citation[key]) for key in ("title", "heading") if citation.get(key)))


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
    # Messages to store before the answer (unsaved; the agent sets conversation and order).
    transcript: list[Message] = field(default_factory=list)

    @property
    def proposed_actions(self) -> list[PendingAction]:
        return [record.pending_action for record in self.tool_calls if record.pending_action is not None]


Brain = Callable[[BrainRequest], BrainReply]


def fallback_respond(request: BrainRequest) -> BrainReply:
    """The brain of last resort: honest that it can't help, and offers a person."""
    return BrainReply(
        text="I'm sorry — I can't answer that right now. " + OFFER_HUMAN,
        intent="",
        model="fallback",
    )


def llm_configured() -> bool:
    return bool(settings.LLM_BASE_URL and settings.LLM_MODEL)


def select_brain() -> Brain:
    if llm_configured():
        from chat.services import llm_brain

        return llm_brain.respond
    try:
        from chat.services import offline  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return fallback_respond
    respond: Brain = offline.respond
    return respond


# --- The turn ------------------------------------------------------------------------------


# The turn's name for the one lookup of the request's customer (NotFound without one).
customer_for_user = access_customer_for_user


def conversation_start(*, customer: Customer, channel: str = Conversation.Channel.WEB) -> Conversation:
    if channel not in Conversation.Channel.values:
        raise InvalidInput(f"Unknown channel {channel!r}; expected one of {', '.join(Conversation.Channel.values)}.")
    return Conversation.objects.create(customer=customer, channel=channel)


def chat_turn(
    *,
    conversation: Conversation,
    text: str,
    user: AbstractBaseUser | AnonymousUser,
    on_token: Callable[[str], None] | None = None,
    verified: bool = True,
) -> list[Message]:
    """Answer the customer's `text` in `conversation`; returns the assistant messages stored.

    Precondition: none beyond authentication — ownership is checked here (NotFound).
    `verified=False` (a WhatsApp number not yet linked to an account) runs the tools with an
    unverified ToolContext: only the public tools answer (see tools.registry.PUBLIC_TOOLS).
    """
    started = time.perf_counter()
    text = (text or "").strip()
    if not text:
        raise InvalidInput("Please type a message.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidInput(f"That message is too long ({len(text)} characters); please keep it under {MAX_MESSAGE_CHARS}.")
    customer = customer_for_user(user)
    if conversation.customer_id != customer.pk:
        raise NotFound("That conversation was not found.")
    conversation.customer = customer

    # The message's embedding is computed on a helper thread while the database work below
    # runs (the model releases the GIL). On the two-core bench machine this measured the same
    # as embedding inline (bench_chat A/B, p50 27-30 ms both ways): the threads slow each other
    # down; with cores to spare the ~7 ms embedding leaves the turn's critical path.
    embedding_job = _embed_in_background(text)
    sentiment = analyze_sentiment(text)
    user_message = _store_customer_message(conversation=conversation, text=text, sentiment=sentiment)
    # A person has this conversation (escalated and assigned): the message goes to their ticket
    # and the assistant stays quiet; returned are only the notices the handoff stored.
    if handoff_route_customer_message(conversation=conversation, text=text):
        notices = list(Message.objects.filter(conversation=conversation, pk__gt=user_message.pk, role=Message.Role.ASSISTANT))
        _emit(on_token, notices)
        return notices

    early = _answer_without_brain(conversation=conversation, text=text, customer=customer, message=user_message)
    if early is not None:
        _emit(on_token, early)
        return early

    context = ToolContext(customer=customer, conversation_id=conversation.pk, channel=conversation.channel, verified=verified)
    request = BrainRequest(
        conversation=conversation,
        text=text,
        context=context,
        retrieved=RetrievedContext(),  # filled in below, once the query embedding is ready
        message=user_message,
        sentiment=sentiment,
        on_token=on_token,
    )
    brain = select_brain()
    if embedding_job is not None and llm_configured():
        # The LLM's context always includes the history and the customer's profile: read them
        # while the helper thread finishes the query embedding instead of after it. A failure
        # here is left to the brain, which reads them again inside the guard below.
        try:
            _ = request.history
        except Exception:  # noqa: BLE001 - never a 500 for the customer
            logger.warning("reading the turn's context ahead failed", exc_info=True)
    request.retrieved = retrieve_knowledge(text, embedding=embedding_job.result() if embedding_job is not None else None)
    try:
        reply = brain(request)
    except Exception:  # noqa: BLE001 - whatever breaks inside a brain, the customer gets an answer
        logger.exception("chat brain failed", extra={"conversation": conversation.pk})
        reply = BrainReply(text="I'm sorry — something went wrong on our side while answering. " + OFFER_HUMAN, model="error")
    if not reply.streamed:
        _emit_text(on_token, reply.text)
    return _persist_reply(
        conversation=conversation, reply=reply, sentiment=sentiment, latency_ms=(time.perf_counter() - started) * 1000
    )


def _emit(on_token: Callable[[str], None] | None, messages: list[Message]) -> None:
    for message in messages:
        _emit_text(on_token, message.text)


def _emit_text(on_token: Callable[[str], None] | None, text: str) -> None:
    if on_token is not None and text:
        on_token(text)


# One statement (one round trip, atomic on its own): expires the conversation's proposals past
# their time (actions_expire_stale, folded in: a "yes" must never confirm an expired action),
# updates the conversation's sentiment streak and stores the customer's message.
_STORE_TURN_SQL = """
WITH expired AS (
    UPDATE chat_pendingaction SET status = %(expired)s, decided_at = %(now)s
    WHERE conversation_id = %(id)s AND status = %(proposed)s AND expires_at <= %(now)s
    RETURNING id
),
conversation AS (
    UPDATE chat_conversation
    SET very_negative_streak = CASE WHEN %(very_negative)s THEN very_negative_streak + 1 ELSE 0 END,
        sentiment_label = %(label)s, sentiment_score = %(score)s, last_activity_at = %(now)s
    WHERE id = %(id)s
    RETURNING id, very_negative_streak, status
),
message AS ({insert_message})
SELECT c.very_negative_streak, c.status, (SELECT count(*) FROM expired), (SELECT id FROM message)
FROM conversation c
"""


def _statement_savepoint() -> AbstractContextManager[Any]:
    """A savepoint around one statement that may fail, only inside a caller's transaction.

    In autocommit mode the statement is its own transaction; inside an atomic block a failed
    statement would otherwise leave the caller's transaction unusable.
    """
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def _store_customer_message(*, conversation: Conversation, text: str, sentiment: Sentiment) -> Message:
    now = timezone.now()
    message = Message(conversation=conversation, role=Message.Role.USER, text=text, sentiment_score=sentiment.score, created_at=now)
    insert = insert_values([message], prefix="m", expressions={"conversation_id": "(SELECT id FROM conversation)"})
    # The UPDATE takes the row lock and counts the streak from the stored value, so concurrent
    # turns on one conversation are ordered and each message is counted exactly once.
    try:
        with _statement_savepoint(), connection.cursor() as cursor:
            cursor.execute(
                _STORE_TURN_SQL.format(insert_message=insert.sql()),
                {"very_negative": sentiment.very_negative, "label": sentiment.label, "score": sentiment.score, "now": now,
                 "id": conversation.pk, "expired": PendingAction.Status.EXPIRED, "proposed": PendingAction.Status.PROPOSED,
                 **insert.params},
            )
            row = cursor.fetchone()
    except IntegrityError:
        row = None  # the conversation is gone: no row updated, so the message's conversation_id is NULL
    if row is None:
        raise NotFound("That conversation was not found.")
    conversation.very_negative_streak, conversation.status, _expired, message_id = row
    conversation.sentiment_label, conversation.sentiment_score = sentiment.label, sentiment.score
    conversation.last_activity_at = now
    assign_ids([message], [message_id])
    return message


def _answer_without_brain(*, conversation: Conversation, text: str, customer: Customer, message: Message) -> list[Message] | None:
    """Confirmations, declines and escalations, which must not depend on a model's judgement.

    A typed yes/no decides an action only when the assistant's latest message asked about
    exactly that action. Otherwise it answers whatever that message asked (a person, a
    restock alert), which is the brain's to read: an older card keeps its buttons, but
    typing "yes" later is no consent to it.
    """
    if conversation.status == Conversation.Status.ESCALATED:
        handoff = escalation.escalated_reply(conversation=conversation)
        if handoff is not None:
            return handoff
    # Stale proposals were expired when the message was stored (_STORE_TURN_SQL).
    affirmed = actions_service.is_affirmation(text)
    if affirmed or actions_service.is_denial(text):
        asked = actions_service.action_asked(conversation=conversation, before_message_id=message.pk)
        if asked is not None and asked.status == PendingAction.Status.PROPOSED:
            if affirmed:
                return actions_service.action_confirm(action_id=asked.pk, customer=customer).messages
            return actions_service.action_decline(action_id=asked.pk, customer=customer).messages
        if asked is not None and asked.status in {PendingAction.Status.EXPIRED, PendingAction.Status.SUPERSEDED}:
            return [actions_service.action_lapsed_reply(action=asked)]
    if is_human_request(text):
        return escalation.conversation_escalate(conversation=conversation, reason="The customer asked for a person.").messages
    if conversation.very_negative_streak >= 2:
        return escalation.conversation_escalate(
            conversation=conversation, reason="The customer has been very unhappy for two messages in a row."
        ).messages
    return None


_embedding_pool: ThreadPoolExecutor | None = None
_embedding_pool_lock = threading.Lock()


def _embed_in_background(text: str) -> Future[np.ndarray] | None:
    """The query embedding of `text`, started now on a small per-process thread pool."""
    global _embedding_pool
    try:
        from knowledge.selectors import embed_query
    except ImportError:
        return None
    with _embedding_pool_lock:
        if _embedding_pool is None:
            _embedding_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="turn-embedding")
    return _embedding_pool.submit(embed_query, text)


def retrieve_knowledge(text: str, *, embedding: np.ndarray | None = None) -> RetrievedContext:
    """Help-center hits for the customer's message, the query embedded once (or passed in)."""
    try:
        from knowledge.selectors import chunk_search, embed_query
    except ImportError:
        # Without the knowledge app a turn is answered without help-center context.
        return RetrievedContext()
    if embedding is None:
        embedding = embed_query(text)
    result = chunk_search(query=text, query_embedding=embedding, k=4)
    return RetrievedContext(hits=list(result.hits), confident=bool(result.confident), query_embedding=embedding)


def customer_profile(*, customer: Customer, recent_orders: list[dict[str, Any]] | None = None) -> CustomerProfile:
    """Name, handle and the five latest orders with status, for the LLM's context.

    `recent_orders` is orders.selectors.recent_orders_summary's answer when the caller has it.
    """
    from orders.selectors import recent_orders_summary

    if recent_orders is None:
        recent_orders = recent_orders_summary(customer=customer, limit=PROFILE_ORDERS)
    recent = [
        {"order_id": order["order_id"], "status": order["status"], "placed": order["created_at"].date().isoformat(),
         "items": order["item_count"]}
        for order in recent_orders
    ]
    return CustomerProfile(name=customer.full_name, handle=customer.handle, recent_orders=recent)


# One statement for the whole reply (see supportbot.sql): the messages, the audit rows, the
# link from proposed actions to the answer that shows them, and the conversation's new state.
_PERSIST_REPLY_SQL = """
WITH conversation AS (
    UPDATE chat_conversation
    SET last_activity_at = %(now)s, sentiment_label = %(label)s, sentiment_score = %(score)s,
        intent = CASE WHEN %(intent)s = '' THEN intent ELSE %(intent)s END
    WHERE id = %(id)s
    RETURNING id
),
message AS ({insert_messages}),
{insert_logs}
linked AS (
    UPDATE chat_pendingaction SET message_id = (SELECT max(id) FROM message)
    WHERE id = ANY(%(proposed)s) AND message_id IS NULL
)
SELECT array_agg(id ORDER BY id) FROM message
"""


def _persist_reply(*, conversation: Conversation, reply: BrainReply, sentiment: Sentiment, latency_ms: float) -> list[Message]:
    now = timezone.now()
    rows: list[Message] = []
    for message in reply.transcript:
        message.conversation = conversation
        message.created_at = now
        rows.append(message)
    answer = Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        text=reply.text,
        citations=reply.citations,
        latency_ms=round(latency_ms),
        prompt_tokens=reply.usage.prompt_tokens,
        completion_tokens=reply.usage.completion_tokens,
        model=reply.model[:100],
        intent=reply.intent[:60],
        created_at=now,
    )
    rows.append(answer)
    messages = insert_values(rows, prefix="m", expressions={"conversation_id": "(SELECT id FROM conversation)"})
    logs = insert_values([record.audit_row(conversation=conversation) for record in reply.tool_calls], prefix="l") if reply.tool_calls else None
    final_sentiment = reply.sentiment or sentiment
    sql = _PERSIST_REPLY_SQL.format(insert_messages=messages.sql(), insert_logs=f"logs AS ({logs.sql()})," if logs else "")
    params = {**messages.params, **(logs.params if logs else {}), "proposed": [action.pk for action in reply.proposed_actions],
              "now": now, "label": final_sentiment.label, "score": final_sentiment.score, "intent": reply.intent[:60],
              "id": conversation.pk}
    escalate = reply.escalate and conversation.status != Conversation.Status.ESCALATED
    with transaction.atomic() if escalate else _statement_savepoint():
        try:
            with _statement_savepoint(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                (ids,) = cursor.fetchone()
        except IntegrityError:
            # Deleted while the brain worked (no conversation row: NULL conversation_id).
            raise NotFound("That conversation was not found.") from None
        assign_ids(rows, ids)
        stored = [answer]
        if escalate:
            stored += escalation.conversation_escalate(
                conversation=conversation, reason=reply.escalation_reason or "The assistant handed the conversation over."
            ).messages
    return stored
