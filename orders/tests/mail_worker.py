"""A real SMTP server plus a real Celery worker that mails through it, for the job tests.

The worker is a separate process, so Django's in-process test settings cannot point it at the
SMTP server: its address goes in through EMAIL_URL (and job settings through their env names).
The server can refuse chosen recipients (550) or hold the session at a chosen message so a
test can kill the worker at that exact point.
"""

from __future__ import annotations

import email
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message

import psutil
from aiosmtpd.controller import Controller

from conftest import WorkerProcess, free_port, start_worker, stop_worker


@dataclass
class Mailbox:
    """What the SMTP server received, and how it should behave."""

    messages: list[Message] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    hold_at: int | None = None  # hold the session when this many messages were accepted
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
        self.refuse.clear()
        self.hold_at = None
        self.held.clear()
        self.release.clear()

    def recipients(self) -> list[str]:
        with self.lock:
            return [message["To"] for message in self.messages]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd API
        box = self.mailbox
        if address in box.refuse:
            return "550 5.1.1 Mailbox unavailable"
        if box.hold_at is not None and len(box.messages) >= box.hold_at and not box.release.is_set():
            # Block this session (not the event loop's other sessions) until the test says so.
            box.held.set()
            while not box.release.is_set():
                await _sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        with self.mailbox.lock:
            self.mailbox.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


class MailWorker:
    """One SMTP server and one worker process using it; the worker can be killed and restarted."""

    def __init__(self, *, env: dict[str, str] | None = None) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = Controller(_Handler(self.mailbox), hostname="127.0.0.1", port=self.port)
        self.env = {"EMAIL_URL": f"smtp://127.0.0.1:{self.port}", **(env or {})}
        self.worker: WorkerProcess | None = None
        self._paused: list[str] = []

    def start(self) -> None:
        from supportbot.celery import app

        self.controller.start()
        # Another worker on this broker (the session `celery_worker` fixture) would take our
        # tasks and mail nowhere; ask it to stop consuming until we are done.
        others = [name for reply in (app.control.ping(timeout=0.5) or []) for name in reply]
        for queue in ("default", "email"):
            if others:
                app.control.cancel_consumer(queue, destination=others, reply=True)
        self._paused = others
        self.start_worker()

    def start_worker(self) -> None:
        self.worker = start_worker(extra_env=self.env)

    def kill_hard(self) -> None:
        """SIGKILL the worker and its pool processes at once, as an OOM killer would."""
        assert self.worker is not None
        parent = psutil.Process(self.worker.process.pid)
        processes = [parent, *parent.children(recursive=True)]
        for process in processes:
            os.kill(process.pid, signal.SIGKILL)
        self.worker.process.wait(timeout=10)
        psutil.wait_procs(processes, timeout=10)

    def stop(self) -> None:
        from supportbot.celery import app

        if self.worker is not None:
            stop_worker(self.worker)
        self.mailbox.release.set()
        self.controller.stop()
        for queue in ("default", "email"):
            if self._paused:
                app.control.add_consumer(queue, destination=self._paused, reply=True)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@contextmanager
def queue_worker(*, queues: str, env: dict[str, str] | None = None) -> Iterator[WorkerProcess]:
    """A worker process consuming only `queues` (comma-separated), the only one doing so meanwhile.

    A task that arrives proves it was routed to one of those queues. Other workers on this broker
    (the session `celery_worker` fixture) stop consuming them until the block ends, so they cannot
    take the task first and run it with the wrong settings.
    """
    from supportbot.celery import app

    names = [name.strip() for name in queues.split(",")]
    others = [name for reply in (app.control.ping(timeout=0.5) or []) for name in reply]
    for queue in names:
        if others:
            app.control.cancel_consumer(queue, destination=others, reply=True)
    worker = start_worker(queues=queues, extra_env=env)
    try:
        yield worker
    finally:
        stop_worker(worker)
        for queue in names:
            if others:
                app.control.add_consumer(queue, destination=others, reply=True)


def smtp_env(outbox: object) -> dict[str, str]:
    """Worker environment that mails through the `smtp_outbox` fixture's server."""
    return {"EMAIL_URL": f"smtp://{outbox.host}:{outbox.port}"}  # type: ignore[attr-defined]
