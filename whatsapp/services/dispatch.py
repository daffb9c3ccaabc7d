"""Handing work to Celery after commit — or, for the terminal simulator only, doing it here.

Services never call tasks directly: they call `dispatch_on_commit` with the task's name (a
module import would close the circle tasks → services → tasks), which enqueues after the
transaction commits (a rolled-back event is never processed). The
`whatsapp_simulate` command wraps its session in `inline()`: the same services then run in
its own process, so a terminal conversation needs no worker and its replies go to the
command's fake Graph API rather than to whatever a running worker is configured with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import transaction

from supportbot.celery import app
from supportbot.services import task_enqueue_on_commit

_inline: ContextVar[bool] = ContextVar("whatsapp_inline", default=False)


@contextmanager
def inline() -> Iterator[None]:
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)


def dispatch_on_commit(task_name: str, *args: Any, in_process: Callable[[], object]) -> None:
    """Queue the task `task_name` with `args` once the transaction commits.

    Inside `inline()`, `in_process` (the service the task would call) runs after the commit in
    this process instead.
    """
    if _inline.get():
        transaction.on_commit(in_process)
        return
    task_enqueue_on_commit(app.signature(task_name), *args)
