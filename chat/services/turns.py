"""Turns handed from the htmx POST to the answer stream, kept in the database (chat.models.PendingTurn).

The POST stores a PendingTurn (the database, not the cache, so a Redis outage loses nothing) and
the stream claims it. A turn whose stream never connects (the tab closed, the connection dropped)
is answered by a worker (`chat.tasks.turn_answer_abandoned`, running `assistant.pending_turns`),
queued by the hand-over itself to run
once the stream's grace period is over and again by the beat sweep; page loads only show turns.
One that failed is shown in the thread with a "Send again" button — nothing the customer typed is lost.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from chat.models import Conversation, Message, PendingTurn
from chat.signals import unanswered_message_apologized
from supportbot.celery import app
from supportbot.services import task_enqueue

if TYPE_CHECKING:
    from django.contrib.auth.models import User


logger = logging.getLogger(__name__)

# A stream normally connects within milliseconds of the POST's answer. A turn still waiting after
# this long has lost its stream, and a worker answers it instead (without streaming).
TURN_STREAM_GRACE_SECONDS = 10
# A turn claimed this long ago and still not finished was cut off (its process died): the customer
# is shown it was not answered. Far above the LLM timeout and retry budget of a real turn, and not
# below the worker's hard time limit, so a turn a worker is still answering is never marked.
TURN_STUCK_SECONDS = 300
# Abandoned turns queued per sweep; the rest wait for the next run.
TURN_SWEEP_BATCH = 500
FAILED_MESSAGE = "Something went wrong while answering. Please try again."
INTERRUPTED_MESSAGE = "The answer was interrupted."
# By name: chat.tasks imports this module.
ANSWER_TASK = "chat.tasks.turn_answer_abandoned"


def _enqueue_answer(turn_id: int, *, countdown: int | None = None) -> None:
    # The turn id is a task argument (not part of the signature), so a message the broker could not
    # take is recorded with it and sent again by `requeue_unsent_tasks`.
    task_enqueue(app.signature(ANSWER_TASK, countdown=countdown), turn_id)


def turn_hand_over(*, conversation: Conversation, user: User, text: str) -> PendingTurn:
    """Store the turn for its stream, and queue its answer by a worker for when the stream's grace
    period is over: if the stream has claimed it by then, the task finds nothing to do."""
    turn = PendingTurn.objects.create(token=uuid.uuid4().hex, conversation=conversation, user=user, text=text)
    transaction.on_commit(lambda: _enqueue_answer(turn.pk, countdown=TURN_STREAM_GRACE_SECONDS))
    return turn


def turns_sweep_abandoned(*, batch: int = TURN_SWEEP_BATCH) -> int:
    """Beat: mark turns cut off mid-answer as failed, and queue an answer for each turn whose stream
    never connected. Returns how many answers were queued.

    A turn already queued by its hand-over may be queued again here; the claim makes the extra
    task a no-op.
    """
    now = timezone.now()
    interrupted = PendingTurn.objects.filter(
        state=PendingTurn.State.ANSWERING, claimed_at__lt=now - timedelta(seconds=TURN_STUCK_SECONDS)
    ).update(state=PendingTurn.State.FAILED, error=INTERRUPTED_MESSAGE)
    if interrupted:
        logger.warning("%d chat turn(s) cut off mid-answer marked failed", interrupted)
    abandoned = list(
        PendingTurn.objects.filter(
            state=PendingTurn.State.PENDING, created_at__lt=now - timedelta(seconds=TURN_STREAM_GRACE_SECONDS)
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:batch]
    )
    for turn_id in abandoned:
        _enqueue_answer(turn_id)
    messages_apologize_unanswered(now=now)
    return len(abandoned)


# Said for a customer message that got no answer because the process answering it died.
UNANSWERED_APOLOGY = (
    "Sorry — something went wrong on our side and I couldn't finish answering your last message. "
    "Please send it again, or ask to talk to a person."
)
# How far back the sweep looks for unanswered messages: older ones were dealt with by earlier runs
# (or predate this job), and the bound keeps each run to recently active conversations.
UNANSWERED_LOOKBACK = timedelta(days=1)


def messages_apologize_unanswered(*, now: datetime | None = None) -> list[Message]:
    """Beat: answer with an apology each customer message the assistant never answered.

    A message is unanswered when it is still the last one in its conversation TURN_STUCK_SECONDS
    after it was stored (far beyond a real turn, which answers or apologises itself), while no
    web turn of the conversation is waiting or being answered, and no person has the
    conversation (then the message waits for them, on their ticket). That is what a process
    killed mid-turn leaves, on any channel. Channels that deliver messages themselves
    (WhatsApp) receive `unanswered_message_apologized` and send the apology.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=TURN_STUCK_SECONDS)
    latest = Message.objects.filter(conversation=OuterRef("pk")).order_by("-id")
    candidates = (
        Conversation.objects.filter(last_activity_at__lt=cutoff, last_activity_at__gte=now - UNANSWERED_LOOKBACK)
        .exclude(status=Conversation.Status.ESCALATED)
        .annotate(last_role=Subquery(latest.values("role")[:1]), last_at=Subquery(latest.values("created_at")[:1]))
        .filter(last_role=Message.Role.USER, last_at__lt=cutoff)
        .exclude(
            pending_turns__state__in=[PendingTurn.State.PENDING, PendingTurn.State.ANSWERING],
        )
    )
    apologies = []
    for conversation in candidates:
        with transaction.atomic():
            # Re-checked under the row lock: a turn finishing meanwhile has answered it.
            locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
            last = Message.objects.filter(conversation=locked).order_by("-id").first()
            if last is None or last.role != Message.Role.USER:
                continue
            apology = Message.objects.create(
                conversation=locked, role=Message.Role.ASSISTANT, text=UNANSWERED_APOLOGY, model="recovery"
            )
            Conversation.objects.filter(pk=locked.pk).update(last_activity_at=apology.created_at)
            unanswered_message_apologized.send(sender=Message, message=apology)
        apologies.append(apology)
    if apologies:
        logger.warning("%d unanswered customer message(s) answered with an apology", len(apologies))
    return apologies


def turns_open(*, conversation: Conversation) -> dict[str, list[PendingTurn]]:
    """What the thread shows after its messages: turns still waiting for their stream, and
    failed turns the customer has not sent again since (no customer message after them)."""
    turns = list(
        PendingTurn.objects.filter(
            conversation=conversation, state__in=[PendingTurn.State.PENDING, PendingTurn.State.FAILED]
        )
    )
    if not turns:
        return {"waiting_turns": [], "unanswered_turns": []}
    last_sent = (
        Message.objects.filter(conversation=conversation, role=Message.Role.USER)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return {
        "waiting_turns": [turn for turn in turns if turn.state == PendingTurn.State.PENDING],
        "unanswered_turns": [
            turn
            for turn in turns
            if turn.state == PendingTurn.State.FAILED and (last_sent is None or turn.created_at > last_sent)
        ],
    }
