"""supportbot.steps: synchronous steps of async requests, a few at a time per event loop."""

import asyncio
import threading
import time

from asgiref.sync import ThreadSensitiveContext, async_to_sync
from django.test import override_settings

from supportbot.steps import sync_step


class Overlap:
    """Counts how many steps run at the same moment, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.threads: set[int] = set()

    def work(self, seconds: float) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.get_ident())
        time.sleep(seconds)
        with self._lock:
            self.running -= 1


def _run_concurrently(overlap: Overlap, steps: int) -> None:
    async def main() -> None:
        # Each request's steps run in a thread of their own, as under Django's ASGI handler.
        async def request() -> None:
            async with ThreadSensitiveContext():
                await sync_step(overlap.work)(0.05)

        await asyncio.gather(*(request() for _ in range(steps)))

    asyncio.run(main())


@override_settings(WEB_STEP_CONCURRENCY=2)
def test_no_more_steps_run_at_once_than_the_setting_allows():
    overlap = Overlap()
    _run_concurrently(overlap, steps=8)
    assert overlap.most == 2
    assert len(overlap.threads) > 1  # the limit is on steps, not a single shared thread


@override_settings(WEB_STEP_CONCURRENCY=8)
def test_a_higher_setting_lets_more_run_at_once():
    overlap = Overlap()
    _run_concurrently(overlap, steps=8)
    assert overlap.most > 2


@override_settings(WEB_STEP_CONCURRENCY=1)
def test_a_step_that_runs_async_code_taking_a_step_does_not_wait_for_its_own_slot():
    inner_ran = []

    async def inner() -> None:
        await sync_step(inner_ran.append)("inner")

    def outer() -> str:
        async_to_sync(inner)()  # back on the loop, with the only slot held by this step
        return "outer"

    async def main() -> str:
        return await asyncio.wait_for(sync_step(outer)(), timeout=10)

    assert asyncio.run(main()) == "outer"
    assert inner_ran == ["inner"]
