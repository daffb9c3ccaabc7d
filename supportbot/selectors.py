"""Read-only checks of the services the portal depends on."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from supportbot.celery import app

WORKER_PING_TIMEOUT = 1.0
WORKER_CHECK_KEY = "supportbot:health:celery_worker"
WORKER_CHECK_LOCK_KEY = "supportbot:health:celery_worker:lock"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".strip()[:200]


def _check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return False, _describe(exc)


def _check_pgvector() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
        return (True, f"vector {row[0]}") if row else (False, "extension 'vector' is not installed")
    except Exception as exc:  # noqa: BLE001
        return False, _describe(exc)


def _check_redis() -> tuple[bool, str]:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        return True, "ok"
    except Exception as exc:  # noqa: BLE001
        return False, _describe(exc)


def _ping_workers() -> tuple[bool, str]:
    try:
        # limit=1: one answer proves jobs are being taken; without it every probe would wait
        # the whole timeout collecting answers from all the workers there are.
        replies = app.control.ping(timeout=WORKER_PING_TIMEOUT, limit=1)
    except Exception as exc:  # noqa: BLE001
        return False, _describe(exc)
    if not replies:
        return False, f"no worker answered within {WORKER_PING_TIMEOUT:g} s"
    return True, f"{next(iter(replies[0]))} answered"


def _check_celery_worker() -> tuple[bool, str]:
    """The workers' ping, shared through the cache for HEALTH_WORKER_CACHE_SECONDS.

    A ping is a broadcast every worker answers and the asker waits on, so one probe per period
    pings for all web processes; probes arriving meanwhile wait briefly for that answer instead
    of sending a broadcast each (twenty at once would otherwise be twenty broadcasts).
    """
    seconds = settings.HEALTH_WORKER_CACHE_SECONDS
    if seconds <= 0:
        return _ping_workers()
    cached = cache.get(WORKER_CHECK_KEY)
    if cached is not None:
        return cached[0], cached[1]
    if cache.add(WORKER_CHECK_LOCK_KEY, 1, timeout=int(WORKER_PING_TIMEOUT) + 2):
        try:
            cached = cache.get(WORKER_CHECK_KEY)  # another probe may have just finished
            if cached is not None:
                return cached[0], cached[1]
            ok, detail = _ping_workers()
            cache.set(WORKER_CHECK_KEY, [ok, detail], timeout=seconds)
            return ok, detail
        finally:
            cache.delete(WORKER_CHECK_LOCK_KEY)
    deadline = time.monotonic() + WORKER_PING_TIMEOUT + 1
    while time.monotonic() < deadline:
        time.sleep(0.05)
        cached = cache.get(WORKER_CHECK_KEY)
        if cached is not None:
            return cached[0], cached[1]
    # The probe holding the lock is gone (its lock expires on its own): ask ourselves.
    return _ping_workers()


def system_health() -> dict[str, dict[str, object]]:
    """Status of database, pgvector, Redis and the Celery workers, each with a detail for staff.

    The worker check goes over the broker, so it is skipped (and reported unhealthy) when
    Redis is down rather than waiting for broker connection retries.
    """
    checks: dict[str, tuple[bool, str]] = {
        "database": _check_database(),
    }
    checks["pgvector"] = _check_pgvector() if checks["database"][0] else (False, "database unreachable")
    checks["redis"] = _check_redis()
    checks["celery_worker"] = _check_celery_worker() if checks["redis"][0] else (False, "broker unreachable")
    return {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()}
