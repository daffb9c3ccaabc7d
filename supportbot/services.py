"""Writes of project-wide records: failed Celery tasks, and tasks a broker outage left unsent."""

from __future__ import annotations

import json
import logging
import traceback as tracebacks
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from supportbot.celery import app
from supportbot.errors import ApplicationError
from supportbot.models import FailedTask

logger = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    """Task arguments as JSON; anything JSON cannot hold is kept as its repr (for reading, not retry)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


def failed_task_record(
    *,
    task_id: str,
    name: str,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    exception: BaseException,
    traceback: str,
) -> FailedTask:
    return FailedTask.objects.create(
        task_id=task_id or "",
        name=name,
        args=_jsonable(list(args or [])),
        kwargs=_jsonable(dict(kwargs or {})),
        exception=f"{type(exception).__name__}: {exception}"[:10_000],
        traceback=traceback[-20_000:],
    )


# A web request that changed data must not fail, nor hang, because the broker is away: the change
# is committed already. What could not be queued is written down as a FailedTask (kind "unsent"),
# so staff see it and `requeue_unsent_tasks` (beat) sends it again once the broker is back.
UNSENT_PREFIX = "unsent:"
# One quick reconnect (a stale pooled connection after a Redis restart), then give up: a request
# must not wait for kombu's default of many retries with back-off.
_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
# What publishing raises when Redis is away: kombu wraps the transport's errors in OperationalError;
# the bare ones are listed in case a code path does not wrap them.
BROKER_UNREACHABLE: tuple[type[BaseException], ...] = (
    OperationalError,
    redis.ConnectionError,
    redis.TimeoutError,
    OSError,
)


class BrokerUnavailable(ApplicationError):
    code = "broker_unavailable"


def _publish(task: Any, *, args: Sequence[Any], kwargs: Mapping[str, Any], task_id: str | None = None) -> None:
    """Send one task message, failing fast with one of BROKER_UNREACHABLE when Redis is away.

    ignore_result: with a Redis result backend, Celery subscribes the *sending* process to the
    result's pub/sub channel before publishing unless the result is ignored — and when Redis is
    down that subscription retries 20 times a second apart (a 19 s hang, then RuntimeError).
    Nothing that enqueues through here reads the result, so none is subscribed to (the worker
    still stores results of tasks that do not ignore them).
    """
    task.apply_async(
        args=list(args),
        kwargs=dict(kwargs),
        task_id=task_id,
        retry=True,
        retry_policy=_PUBLISH_RETRY_POLICY,
        ignore_result=True,
    )


def task_enqueue(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Publish `task` now. Returns False, after recording it as unsent, when the broker is unreachable.

    Never raises for a broker outage and returns within about a second (one reconnect attempt).
    """
    try:
        _publish(task, args=args, kwargs=kwargs)
    except BROKER_UNREACHABLE as exc:
        logger.warning("broker unreachable; %s recorded as unsent", task.name)
        failed_task_record(
            task_id=f"{UNSENT_PREFIX}{task.name}",
            name=task.name,
            args=args,
            kwargs=kwargs,
            exception=exc,
            traceback=tracebacks.format_exc(),
        )
        return False
    return True


def task_enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Publish `task` once the current transaction commits (nothing is sent for a rolled-back change)."""
    transaction.on_commit(lambda: task_enqueue(task, *args, **kwargs))


def _send_again(failed: FailedTask) -> str:
    """Publish `failed` with its original arguments and mark it; returns the new task id.

    Precondition: the caller holds SELECT FOR UPDATE on `failed` inside a transaction.
    The message goes out *before* the row is marked, while the lock is held: if the broker is
    down nothing is marked (BrokerUnavailable), so no retry is recorded that did not happen. If
    the commit itself failed after a successful publish the row would be sent once more by a later
    run — at least once, never zero times; the tasks are idempotent (ledgers) for that reason.
    """
    args = failed.args if isinstance(failed.args, list) else []
    kwargs = failed.kwargs if isinstance(failed.kwargs, dict) else {}
    task_id = str(uuid.uuid4())
    try:
        _publish(app.signature(failed.name), args=args, kwargs=kwargs, task_id=task_id)
    except BROKER_UNREACHABLE as exc:
        raise BrokerUnavailable(
            "The task queue (Redis) is unreachable, so nothing was sent again. Try once /healthz shows Redis up."
        ) from exc
    failed.retried_at = timezone.now()
    failed.retry_task_id = task_id
    failed.save(update_fields=["retried_at", "retry_task_id"])
    return task_id


@transaction.atomic
def failed_task_retry(*, failed_task_id: int) -> str:
    """Queue the task again with its original arguments (routed by task name). Returns the new task id.

    Raises BrokerUnavailable, leaving the row unmarked, when the broker is unreachable.
    """
    failed = FailedTask.objects.select_for_update().get(pk=failed_task_id)
    return _send_again(failed)


def unsent_tasks_requeue(*, limit: int = 1000) -> int:
    """Send again the tasks a broker outage left unsent (oldest first). Returns how many were sent.

    Each row is claimed in its own short transaction with SELECT ... FOR UPDATE SKIP LOCKED and
    marked (retried_at, retry_task_id) before that transaction commits, so two runs at once —
    two beat ticks, or beat and a staff retry — never send one row twice: the second run skips
    the locked row, and after the commit the row no longer matches. Stops at the first broker
    error; the rest wait for the next run.
    """
    sent = 0
    while sent < limit:
        with transaction.atomic():
            failed = (
                FailedTask.objects.select_for_update(skip_locked=True)
                .filter(task_id__startswith=UNSENT_PREFIX, retried_at__isnull=True)
                .order_by("pk")
                .first()
            )
            if failed is None:
                break
            try:
                _send_again(failed)
            except BrokerUnavailable:
                logger.warning("broker still unreachable; unsent tasks left for the next run")
                break
        sent += 1
    return sent
