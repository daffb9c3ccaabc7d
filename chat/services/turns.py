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
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from chat.models import Conversation, Message, PendingTurn
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
    return len(abandoned)


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
