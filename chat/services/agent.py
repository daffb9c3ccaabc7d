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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.limits import MAX_MESSAGE_CHARS
from chat.models import Conversation, Message, PendingAction, ToolCallLog
from chat.nlu.sentiment import Sentiment, analyze_sentiment
from chat.services import actions as actions_service
from chat.services import escalation
from chat.services.toolcalls import ToolCallRecord
from chat.services.tools import ToolContext
from orders.selectors import access_customer_for_user
from supportbot.errors import InvalidInput, NotFound
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
        # both, and many offline turns (policy, small talk) need neither.
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
        retrieved=retrieve_knowledge(text),
        message=user_message,
        sentiment=sentiment,
        on_token=on_token,
    )
    brain = select_brain()
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


def _store_customer_message(*, conversation: Conversation, text: str, sentiment: Sentiment) -> Message:
    """Store the customer's message and the conversation's new mood; NotFound if it was deleted meanwhile.

    The conversation row is locked first, so concurrent turns on one conversation are ordered:
    each reads the very-negative streak the previous one stored and each message counts exactly
    once. Proposals past their time are expired here, before anything reads a "yes".
    """
    now = timezone.now()
    with transaction.atomic():
        locked = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation.pk)
            .values("very_negative_streak", "status")
            .first()
        )
        if locked is None:
            raise NotFound("That conversation was not found.")
        actions_service.actions_expire_stale(conversation=conversation)
        changes = {
            "very_negative_streak": locked["very_negative_streak"] + 1 if sentiment.very_negative else 0,
            "sentiment_label": sentiment.label,
            "sentiment_score": sentiment.score,
            "last_activity_at": now,
        }
        Conversation.objects.filter(pk=conversation.pk).update(**changes)
        for field_name, value in {**changes, "status": locked["status"]}.items():
            setattr(conversation, field_name, value)
        return Message.objects.create(
            conversation=conversation,
            role=Message.Role.USER,
            text=text,
            sentiment_score=sentiment.score,
            created_at=now,
        )


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
    # Stale proposals were expired when the message was stored (_store_customer_message).
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


def retrieve_knowledge(text: str) -> RetrievedContext:
    """Help-center hits for the customer's message; the query embedding is kept for the brain to reuse."""
    try:
        from knowledge.selectors import chunk_search, embed_query
    except ImportError:
        # Without the knowledge app a turn is answered without help-center context.
        return RetrievedContext()
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


@transaction.atomic
def _persist_reply(
    *, conversation: Conversation, reply: BrainReply, sentiment: Sentiment, latency_ms: float
) -> list[Message]:
    """Store the reply (transcript, answer, audit rows) and the conversation's new state.

    NotFound if the conversation was deleted while the brain worked.
    """
    now = timezone.now()
    final_sentiment = reply.sentiment or sentiment
    changes: dict[str, Any] = {
        "sentiment_label": final_sentiment.label,
        "sentiment_score": final_sentiment.score,
        "last_activity_at": now,
    }
    if reply.intent:
        changes["intent"] = reply.intent[:60]
    # The UPDATE also locks the row until commit, so the conversation cannot go while the reply is stored.
    if not Conversation.objects.filter(pk=conversation.pk).update(**changes):
        raise NotFound("That conversation was not found.")
    for field_name, value in changes.items():
        setattr(conversation, field_name, value)
    for message in reply.transcript:
        message.conversation = conversation
        message.created_at = now
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
    Message.objects.bulk_create([*reply.transcript, answer])
    if reply.tool_calls:
        ToolCallLog.objects.bulk_create([record.audit_row(conversation=conversation) for record in reply.tool_calls])
    proposed = [action.pk for action in reply.proposed_actions]
    if proposed:
        # The card shows on the answer that proposed it.
        PendingAction.objects.filter(pk__in=proposed, message__isnull=True).update(message=answer)
    stored = [answer]
    if reply.escalate and conversation.status != Conversation.Status.ESCALATED:
        stored += escalation.conversation_escalate(
            conversation=conversation, reason=reply.escalation_reason or "The assistant handed the conversation over."
        ).messages
    return stored
