"""Writes of project-wide records: failed Celery tasks."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from supportbot.models import FailedTask


def _jsonable(value: Any) -> Any:
    """Task arguments as JSON; anything JSON cannot hold is kept as its repr (for reading, not retry)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return repr(value)


def failed_task_record(
    *, task_id: str, name: str, args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None, exception: BaseException, traceback: str
) -> FailedTask:
    return FailedTask.objects.create(
        task_id=task_id or "",
        name=name,
        args=_jsonable(list(args or [])),
        kwargs=_jsonable(dict(kwargs or {})),
        exception=f"{type(exception).__name__}: {exception}"[:10_000],
        traceback=traceback[-20_000:],
    )


@transaction.atomic
def failed_task_retry(*, failed_task_id: int) -> str:
    """Queue the task again with its original arguments. Returns the new task id.

    The new message is routed like any other (by task name), and is sent only after this
    transaction commits, so the admin never records a retry that did not happen.
    """
    from supportbot.celery import app

    failed = FailedTask.objects.select_for_update().get(pk=failed_task_id)
    args = failed.args if isinstance(failed.args, list) else []
    kwargs = failed.kwargs if isinstance(failed.kwargs, dict) else {}
    signature = app.signature(failed.name, args=args, kwargs=kwargs)
    task_id = signature.freeze().id
    failed.retried_at = timezone.now()
    failed.retry_task_id = task_id
    failed.save(update_fields=["retried_at", "retry_task_id"])
    transaction.on_commit(lambda: signature.apply_async(task_id=task_id))
    return task_id


# A web request that changed data must not fail, nor hang, because the broker is away: the change
# is committed already. What could not be queued is written down as a FailedTask (kind "unsent"),
# so staff see it and `requeue_unsent_tasks` (beat) sends it again once the broker is back.
UNSENT_PREFIX = "unsent:"
_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def task_enqueue(task: Any, *args: Any, **kwargs: Any) -> bool:
    """Publish `task` now. Returns False, after recording it as unsent, when the broker is unreachable."""
    import logging
    import traceback

    from kombu.exceptions import OperationalError

    try:
        task.apply_async(args=args, kwargs=kwargs, retry=True, retry_policy=_PUBLISH_RETRY_POLICY)
    except (OperationalError, ConnectionError, OSError) as exc:
        logging.getLogger(__name__).warning("broker unreachable; %s recorded as unsent", task.name)
        failed_task_record(
            task_id=f"{UNSENT_PREFIX}{task.name}", name=task.name, args=args, kwargs=kwargs, exception=exc,
            traceback=traceback.format_exc(),
        )
        return False
    return True


def task_enqueue_on_commit(task: Any, *args: Any, **kwargs: Any) -> None:
    """Publish `task` once the current transaction commits (nothing is sent for a rolled-back change)."""
    transaction.on_commit(lambda: task_enqueue(task, *args, **kwargs))
