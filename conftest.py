"""Shared fixtures: a real Celery worker process, a real SMTP server, live URLs.

Everything here talks to real services: the worker is a separate `celery worker` process on
the real Redis broker, reading the pytest-django test database; mail goes through a real
SMTP server (aiosmtpd) listening on 127.0.0.1.
"""

from __future__ import annotations

import email
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from urllib.parse import quote

import pytest

from supportbot.tests.asgi_live_server import AsgiLiveServer
from supportbot.tests.browser import browser  # noqa: F401 - the browser tests' fixture

ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def live_server(django_db_setup) -> Iterator[AsgiLiveServer]:
    """The project's ASGI app under uvicorn (supportbot/tests/asgi_live_server.py), in place of
    pytest-django's WSGI live server, so browser tests see the chat stream as production serves it."""
    server = AsgiLiveServer()
    server.start()
    yield server
    server.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url_for(settings_dict: dict) -> str:
    """A DATABASE_URL pointing at the database Django is connected to (the test database)."""
    user = quote(settings_dict.get("USER") or "")
    password = quote(settings_dict.get("PASSWORD") or "")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    host = settings_dict.get("HOST") or ""
    name = settings_dict["NAME"]
    if host.startswith("/"):
        return f"postgres://{credentials}/{name}?host={host}"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{credentials}{host}:{port}/{name}"


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int) -> None:
        self.process.send_signal(sig)


def start_worker(
    *, queues: str = "default,email,embeddings,llm", concurrency: int = 1, extra_env: dict | None = None
) -> WorkerProcess:
    from django.conf import settings
    from django.db import connection

    from supportbot.celery import app

    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "supportbot.test_settings",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "REDIS_URL": settings.REDIS_URL,
        "TEST_REDIS_DB": os.environ.get("TEST_REDIS_DB", "9"),
        **(extra_env or {}),
    }
    log_dir = ROOT / "var" / "test-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"worker-{name.split('@')[0]}.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "supportbot",
            "worker",
            "--queues",
            queues,
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--hostname",
            name,
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    hostname = name.replace("%h", os.uname().nodename)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{log_path.read_text()}")
        if app.control.ping(destination=[hostname], timeout=0.5):
            return WorkerProcess(name=hostname, process=process, log_path=log_path)
    process.kill()
    raise RuntimeError(f"celery worker did not answer within 60 s:\n{log_path.read_text()}")


def stop_worker(worker: WorkerProcess) -> None:
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker) -> Iterator[WorkerProcess]:
    """A real `celery worker` process on the real broker, using the test database.

    Tests using it must be `@pytest.mark.django_db(transaction=True)`: the worker is another
    process and only sees committed rows.
    """
    from supportbot.celery import app

    app.control.purge()
    with django_db_blocker.unblock():
        worker = start_worker()
    yield worker
    stop_worker(worker)


@dataclass
class SmtpOutbox:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture
def smtp_outbox(settings) -> Iterator[SmtpOutbox]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd); Django's SMTP backend is pointed at it."""
    from aiosmtpd.controller import Controller

    outbox = SmtpOutbox(host="127.0.0.1", port=0)

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
            outbox.messages.append(email.message_from_bytes(envelope.content))
            return "250 Message accepted for delivery"

    outbox.port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=outbox.port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = outbox.host
    settings.EMAIL_PORT = outbox.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    try:
        yield outbox
    finally:
        controller.stop()


@contextmanager
def scripted_llm(settings, *, timeout: float = 2.0, retry_budget: float = 3.0, api_key: str = "test-key") -> Iterator:
    """A scripted Chat Completions server (chat/tests/llm_server.py), the LLM settings pointing at it."""
    from assistant.tests.llm_server import ScriptedLLM

    server = ScriptedLLM().start()
    settings.LLM_BASE_URL = server.base_url
    settings.LLM_MODEL = "scripted-test-model"
    settings.LLM_API_KEY = api_key
    settings.LLM_TIMEOUT = timeout
    settings.LLM_RETRY_BUDGET = retry_budget
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llm(settings) -> Iterator:
    """The scripted LLM with the agent tests' short timeout and retry budget."""
    with scripted_llm(settings) as server:
        yield server
