"""Turns handed from the htmx POST to the answer stream, kept in the database (chat.models.PendingTurn).

The hand-over used to be a cache entry, so with Redis down every htmx message failed. Now the
POST stores a PendingTurn and the stream claims it; a turn whose stream never connects (the tab
closed, the connection dropped) is answered by the next page load of its conversation, and one
that failed is shown in the thread with a "Send again" button — nothing the customer typed is lost.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.utils import timezone

from chat.models import Conversation, Message, PendingTurn
from chat.services.agent import chat_turn
from supportbot.errors import ApplicationError

if TYPE_CHECKING:
    from django.contrib.auth.models import User


logger = logging.getLogger(__name__)

# A stream normally connects within milliseconds of the POST's answer. A turn still waiting after
# this long has lost its stream, and the next page load answers it instead (without streaming).
TURN_STREAM_GRACE_SECONDS = 10
# A turn claimed this long ago and still not finished was cut off (its process died): the customer
# is shown it was not answered. Far above the LLM timeout and retry budget of a real turn.
TURN_STUCK_SECONDS = 300
FAILED_MESSAGE = "Something went wrong while answering. Please try again."


def turn_hand_over(*, conversation: Conversation, user: User, text: str) -> PendingTurn:
    return PendingTurn.objects.create(token=uuid.uuid4().hex, conversation=conversation, user=user, text=text)


def turn_run(turn: PendingTurn, *, user: User, on_token: Callable[[str], None] | None = None) -> str:
    """Answer a claimed turn and record the outcome; returns "" or the error shown to the customer.

    Precondition: the caller claimed `turn` (PendingTurn.claim), so no other request runs it.
    """
    try:
        chat_turn(conversation=turn.conversation, text=turn.text, user=user, on_token=on_token)
    except ApplicationError as exc:
        turn.finish(error=exc.message)
        return exc.message
    except Exception:  # noqa: BLE001 - the customer gets an error, the log the traceback
        logger.exception("chat turn failed", extra={"conversation": turn.conversation_id})
        turn.finish(error=FAILED_MESSAGE)
        return FAILED_MESSAGE
    turn.finish()
    return ""


def turns_answer_abandoned(*, conversation: Conversation, user: User) -> int:
    """On a page load: answer the turns whose stream never came; mark cut-off ones failed.

    Returns how many turns were answered. Each is claimed first, so a stream connecting late,
    or the same page open twice, does not answer it again.
    """
    now = timezone.now()
    PendingTurn.objects.filter(
        conversation=conversation,
        state=PendingTurn.State.ANSWERING,
        claimed_at__lt=now - timedelta(seconds=TURN_STUCK_SECONDS),
    ).update(state=PendingTurn.State.FAILED, error="The answer was interrupted.")
    abandoned = PendingTurn.objects.filter(
        conversation=conversation,
        user=user,
        state=PendingTurn.State.PENDING,
        created_at__lt=now - timedelta(seconds=TURN_STREAM_GRACE_SECONDS),
    ).values_list("pk", flat=True)
    answered = 0
    for pk in list(abandoned):
        turn = PendingTurn.claim(pk=pk)
        if turn is not None:
            turn_run(turn, user=user)
            answered += 1
    return answered


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
