"""The chat turn: one entry point, two interchangeable "brains".

    chat_turn(*, conversation, text, user, on_token=None) -> list[Message]
    await achat_turn(...)  # the same turn for async code: the web chat's stream

is the only way a customer message becomes an answer: the web chat, the JSON API, WhatsApp
and `manage.py chat` all call it. It returns the assistant messages it persisted, in order.
Both run the same steps: `achat_turn` runs the database work in `sync_step` steps and
awaits the LLM brain on the event loop, so a customer waiting on the model holds no thread.

What the turn does, in order
 1. Checks the conversation belongs to `user`'s customer (NotFound otherwise), stores the
    customer's message with its sentiment.
 2. Handles what needs no brain: "yes"/"no" when the assistant's latest message asked to
    confirm exactly one action (`assistant.actions.action_asked`), an explicit request
    for a person, and a second very negative message in a row (both escalate:
    `assistant.escalation`). A yes/no to anything else is the brain's to read.
 3. Retrieves knowledge once (`assistant.retrieval`; the query embedding is computed once and
    shared) and builds a short customer profile on first use.
 4. Asks the brain for a reply, then persists everything in one transaction: intermediate
    messages, the answer with its citations, latency and tokens, the audit log, the link
    from proposed actions to the answer that shows them, the cached intent/sentiment.
A brain that raises is answered with an apology and the offer of a person; the customer's
message is already stored. Nothing here raises for a customer except bad input
(InvalidInput: empty or over-long text) and someone else's conversation (NotFound).

The brain
---------
`select_brain()` reads the ASSISTANT_BRAIN setting: "llm" → `assistant.llm.brain.respond` (a
coroutine function; `chat_turn` runs it with async_to_sync),
"offline" → `assistant.offline.respond`, "auto" (the default) → the LLM brain when LLM_BASE_URL
and LLM_MODEL are set, the offline one otherwise. The types a brain receives and returns are in
`assistant.types`.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone

from assistant import actions as actions_service
from assistant import escalation, offline
from assistant.llm import brain as llm_brain
from assistant.llm.client import llm_enabled
from assistant.nlu.sentiment import Sentiment, analyze_sentiment
from assistant.retrieval import retrieve_knowledge
from assistant.tools import ToolContext
from assistant.types import OFFER_HUMAN, Brain, BrainReply, BrainRequest, is_human_request
from chat.limits import MESSAGE_TOO_LONG, message_too_long
from chat.models import Conversation, Message, PendingAction, ToolCallLog
from orders.selectors import access_customer_for_user
from supportbot.errors import InvalidInput, NotFound
from supportbot.steps import sync_step
from tickets.handoff import handoff_route_customer_message

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from orders.models import Customer

logger = logging.getLogger(__name__)


def select_brain() -> Brain:
    """The brain ASSISTANT_BRAIN names (validated at start-up; see llm_enabled)."""
    return llm_brain.respond if llm_enabled() else offline.respond


# --- The turn ------------------------------------------------------------------------------


@dataclass
class _Started:
    """A turn past its first steps: either answered already, or waiting for the brain."""

    answered: list[Message] | None = None
    request: BrainRequest | None = None
    sentiment: Sentiment | None = None
    started: float = 0.0


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
    begun = _turn_begin(conversation=conversation, text=text, user=user, on_token=on_token, verified=verified)
    if begun.answered is not None:
        return begun.answered
    assert begun.request is not None
    brain = select_brain()
    if inspect.iscoroutinefunction(brain):
        reply = async_to_sync(_ask_async)(brain, begun.request)
    else:
        reply = _ask(brain, begun.request)
    return _turn_finish(begun, reply)


async def achat_turn(
    *,
    conversation: Conversation,
    text: str,
    user: AbstractBaseUser | AnonymousUser,
    on_token: Callable[[str], None] | None = None,
    verified: bool = True,
) -> list[Message]:
    """`chat_turn` for async code. `on_token` may be called from a worker thread: it must be
    thread-safe (e.g. `loop.call_soon_threadsafe`) and must not block."""
    if not inspect.iscoroutinefunction(select_brain()):
        # Nothing to wait on (the offline brain): the whole turn is one synchronous step, one
        # hand-over to a thread instead of one per step.
        return await sync_step(chat_turn)(
            conversation=conversation, text=text, user=user, on_token=on_token, verified=verified
        )
    begun = await sync_step(_turn_begin)(
        conversation=conversation, text=text, user=user, on_token=on_token, verified=verified
    )
    if begun.answered is not None:
        return begun.answered
    assert begun.request is not None
    brain = select_brain()
    if inspect.iscoroutinefunction(brain):
        reply = await _ask_async(brain, begun.request)
    else:
        reply = await sync_step(_ask)(brain, begun.request)
    return await sync_step(_turn_finish)(begun, reply)


def _turn_begin(
    *,
    conversation: Conversation,
    text: str,
    user: AbstractBaseUser | AnonymousUser,
    on_token: Callable[[str], None] | None,
    verified: bool,
) -> _Started:
    """Check, store the customer's message, answer what needs no brain, retrieve knowledge."""
    started = time.perf_counter()
    text = (text or "").strip()
    if not text:
        raise InvalidInput("Please type a message.")
    if message_too_long(text):
        raise InvalidInput(MESSAGE_TOO_LONG)
    customer = access_customer_for_user(user)
    if conversation.customer_id != customer.pk:
        raise NotFound("That conversation was not found.")
    conversation.customer = customer

    sentiment = analyze_sentiment(text)
    user_message = _store_customer_message(conversation=conversation, text=text, sentiment=sentiment)
    # A person has this conversation (escalated and assigned): the message goes to their ticket
    # and the assistant stays quiet; returned are only the notices the handoff stored.
    if handoff_route_customer_message(conversation=conversation, text=text):
        notices = list(
            Message.objects.filter(conversation=conversation, pk__gt=user_message.pk, role=Message.Role.ASSISTANT)
        )
        _emit(on_token, notices)
        return _Started(answered=notices)

    early = _answer_without_brain(conversation=conversation, text=text, customer=customer, message=user_message)
    if early is not None:
        _emit(on_token, early)
        return _Started(answered=early)

    context = ToolContext(
        customer=customer, conversation_id=conversation.pk, channel=conversation.channel, verified=verified
    )
    request = BrainRequest(
        conversation=conversation,
        text=text,
        context=context,
        retrieved=retrieve_knowledge(text),
        message=user_message,
        sentiment=sentiment,
        on_token=on_token,
    )
    return _Started(request=request, sentiment=sentiment, started=started)


def _brain_failed(conversation: Conversation) -> BrainReply:
    logger.exception("chat brain failed", extra={"conversation": conversation.pk})
    return BrainReply(
        text="I'm sorry — something went wrong on our side while answering. " + OFFER_HUMAN, model="error"
    )


def _ask(brain: Brain, request: BrainRequest) -> BrainReply:
    try:
        return brain(request)  # type: ignore[return-value]  # a function brain (see chat_turn)
    except Exception:  # noqa: BLE001 - whatever breaks inside a brain, the customer gets an answer
        return _brain_failed(request.conversation)


async def _ask_async(brain: Brain, request: BrainRequest) -> BrainReply:
    try:
        return await brain(request)  # type: ignore[misc]  # a coroutine brain (see chat_turn)
    except Exception:  # noqa: BLE001 - whatever breaks inside a brain, the customer gets an answer
        return _brain_failed(request.conversation)


def _turn_finish(begun: _Started, reply: BrainReply) -> list[Message]:
    assert begun.request is not None and begun.sentiment is not None
    if not reply.streamed:
        _emit_text(begun.request.on_token, reply.text)
    return _persist_reply(
        conversation=begun.request.conversation,
        reply=reply,
        sentiment=begun.sentiment,
        latency_ms=(time.perf_counter() - begun.started) * 1000,
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


def _answer_without_brain(
    *, conversation: Conversation, text: str, customer: Customer, message: Message
) -> list[Message] | None:
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
        return escalation.conversation_escalate(
            conversation=conversation, reason="The customer asked for a person."
        ).messages
    if conversation.very_negative_streak >= 2:
        return escalation.conversation_escalate(
            conversation=conversation, reason="The customer has been very unhappy for two messages in a row."
        ).messages
    return None


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
