"""Read-only checks of the services the portal depends on."""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection


def _check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return False, f"{type(exc).__name__}: {exc}".strip()[:200]


def _check_pgvector() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
        return (True, f"vector {row[0]}") if row else (False, "extension 'vector' is not installed")
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}".strip()[:200]


def _check_redis() -> tuple[bool, str]:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
        client.ping()
        return True, "ok"
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}".strip()[:200]


def _check_celery_worker() -> tuple[bool, str]:
    from supportbot.celery import app

    try:
        replies = app.control.ping(timeout=1.0)
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}".strip()[:200]
    if not replies:
        return False, "no worker answered within 1 s"
    return True, f"{len(replies)} worker(s)"


def system_health() -> dict[str, dict[str, object]]:
    """Status of database, pgvector, Redis and the Celery workers.

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
