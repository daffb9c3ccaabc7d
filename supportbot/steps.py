"""The synchronous steps of async requests (database work, retrieval), a few at a time per process.

Under ASGI each request's `sync_to_async` steps run in a thread of that request. When hundreds
of customers start chat turns within seconds, hundreds of threads would share one interpreter
lock, and every page request, also a thread, would get a sliver of it and wait seconds.
`sync_step` lets WEB_STEP_CONCURRENCY steps run at once per event loop and queues the rest on
the loop, where waiting costs nothing, so a page competes with a few threads, not hundreds. The total work is the same; turns queue instead of pages.

A request that must wait for a slot first hands its pooled database connection back (it may hold
one from work outside the steps, such as loading the user): otherwise requests waiting for a slot
could hold every connection the steps in their slots need.

A step that itself runs async code which takes a step (async_to_sync inside a step) is already
holding a slot and does not wait for another: waiting there could deadlock the loop's slots.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings

from supportbot.db import release_pooled_connection

P = ParamSpec("P")
R = TypeVar("R")

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_holding_slot: ContextVar[bool] = ContextVar("holding_step_slot", default=False)


def _loop_slots() -> asyncio.Semaphore:
    # One semaphore per event loop: asyncio primitives belong to the loop that first waits on them,
    # and tests and synchronous callers (async_to_sync) run loops of their own.
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(settings.WEB_STEP_CONCURRENCY)
    return slots


_release_connection = sync_to_async(release_pooled_connection)


def sync_step(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`sync_to_async(func)` (in the request's thread, as Django runs sync code), admitted a few
    at a time per event loop."""
    step = sync_to_async(func)

    @functools.wraps(func)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if _holding_slot.get():
            return await step(*args, **kwargs)
        slots = _loop_slots()
        if slots.locked():
            await _release_connection()
        async with slots:
            holding = _holding_slot.set(True)
            try:
                return await step(*args, **kwargs)
            finally:
                _holding_slot.reset(holding)

    return run
