"""Answering a pending turn (chat.models.PendingTurn): the stream's claimed turn, or one whose
stream never came and a worker picked up. Storing, sweeping and showing pending turns is the
chat app's (chat.services.turns); running the turn is the assistant's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from asgiref.sync import async_to_sync
from django.utils import timezone

from assistant.turn import achat_turn
from chat.models import PendingTurn
from chat.services.turns import FAILED_MESSAGE, TURN_STREAM_GRACE_SECONDS
from supportbot.errors import ApplicationError
from supportbot.steps import sync_step

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)


def turn_run(turn: PendingTurn, *, user: User, on_token: Callable[[str], None] | None = None) -> str:
    """`aturn_run` for synchronous code (the Celery task answering an abandoned turn)."""
    return async_to_sync(aturn_run)(turn, user=user, on_token=on_token)


async def aturn_run(turn: PendingTurn, *, user: User, on_token: Callable[[str], None] | None = None) -> str:
    """Answer a claimed turn and record the outcome; returns "" or the error shown to the customer.

    Precondition: the caller claimed `turn` (PendingTurn.claim), so no other request runs it.
    """
    conversation = await sync_step(lambda: turn.conversation)()  # loads it unless already attached
    try:
        await achat_turn(conversation=conversation, text=turn.text, user=user, on_token=on_token)
    except ApplicationError as exc:
        await sync_step(turn.finish)(error=exc.message)
        return exc.message
    except Exception:  # noqa: BLE001 - the customer gets an error, the log the traceback
        logger.exception("chat turn failed", extra={"conversation": turn.conversation_id})
        await sync_step(turn.finish)(error=FAILED_MESSAGE)
        return FAILED_MESSAGE
    await sync_step(turn.finish)()
    return ""


def turn_answer_abandoned(*, turn_id: int) -> bool:
    """Answer one turn whose stream never came; False if there is nothing to do.

    Only a turn still pending past the grace period is taken: one a stream claimed (or answered)
    is left to it, and one queued early (a requeue after a broker outage has no countdown) is left
    for its stream or the next sweep. The claim is a conditional UPDATE, so of this task, a
    duplicate of it and a stream connecting late, exactly one answers the turn.
    """
    cutoff = timezone.now() - timedelta(seconds=TURN_STREAM_GRACE_SECONDS)
    turn = PendingTurn.claim(pk=turn_id, created_at__lte=cutoff)
    if turn is None:
        return False
    turn_run(turn, user=turn.user)
    return True
