"""Celery tasks of the chat: thin wrappers taking ids and calling one service (assistant.pending_turns
answers a turn, chat.services.turns sweeps them).

`turn_answer_abandoned` talks to the LLM, so supportbot/celery.py routes it to the "llm" queue;
the sweep only queues work and runs on "default". Workers run with acks_late, so either may run
twice; the turn's claim (a conditional UPDATE) makes that harmless.
"""

from __future__ import annotations

from celery import shared_task

from assistant import pending_turns
from chat.services import turns


@shared_task(name="chat.tasks.turn_answer_abandoned")
def turn_answer_abandoned(turn_id: int) -> bool:
    """Answer one turn whose stream never connected (a no-op if a stream or another task has it)."""
    return pending_turns.turn_answer_abandoned(turn_id=turn_id)


@shared_task(name="chat.tasks.turns_sweep_abandoned")
def turns_sweep_abandoned() -> int:
    """Beat, every 30 seconds: queue an answer for each abandoned turn; fail turns cut off mid-answer."""
    return turns.turns_sweep_abandoned()
