"""Reading settings from the environment, with one clear line on bad input.

django-environ does the parsing; this module turns its exceptions into a single message that
names the variable and what it expects, and stops the process. A misconfigured deployment
should fail at startup, in one readable line, not with a traceback at the first request.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import environ

T = TypeVar("T")

env = environ.Env()
_NOT_SET = object()


class ConfigError(Exception):
    """A missing or invalid environment value."""


def fail(message: str) -> None:
    """Stop the process with one line on stderr (exit code 78 = EX_CONFIG)."""
    sys.stderr.write(f"Configuration error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(78)


def read(name: str, parse: Callable[..., T], default: Any = _NOT_SET, *, expected: str) -> T:
    """Read NAME with `parse` (an environ.Env method); exit with one line if it is invalid."""
    raw = os.environ.get(name)
    if raw is None:
        if default is _NOT_SET:
            fail(f"{name} is not set; expected {expected}.")
        return default  # type: ignore[no-any-return]
    try:
        return parse(name)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a configuration error
        detail = str(exc).split("\n")[0]
        fail(f"{name}={raw!r} is invalid ({detail}); expected {expected}.")
        raise  # unreachable, for type checkers


def read_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    fail(f"{name}={raw!r} is invalid; expected a boolean (true/false, 1/0, yes/no, on/off).")
    raise AssertionError  # unreachable


def read_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        fail(f"{name}={raw!r} is invalid; expected a whole number.")
        raise
    if minimum is not None and value < minimum:
        fail(f"{name}={raw!r} is invalid; expected a whole number of at least {minimum}.")
    return value


def read_float(name: str, default: float, *, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        fail(f"{name}={raw!r} is invalid; expected a number.")
        raise
    if minimum is not None and value < minimum:
        fail(f"{name}={raw!r} is invalid; expected a number of at least {minimum}.")
    return value


def read_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def read_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def read_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name)
    if raw is None:
        return default
    if raw not in choices:
        fail(f"{name}={raw!r} is invalid; expected one of: {', '.join(choices)}.")
    return raw


def read_database_url(name: str) -> dict[str, Any]:
    raw = os.environ[name]
    if not raw.startswith(("postgres://", "postgresql://", "pgsql://")):
        fail(f"{name}={raw!r} is invalid; expected a PostgreSQL URL such as postgres://user:password@host:5432/dbname.")
    try:
        config: dict[str, Any] = env.db_url(name)
    except Exception as exc:  # noqa: BLE001
        fail(
            f"{name}={raw!r} is invalid ({exc}); expected a PostgreSQL URL such as postgres://user:password@host:5432/dbname."
        )
        raise
    # A unix-socket URL (postgres://user@/db?host=/run/pg) carries the socket dir as an option.
    if not config.get("HOST") and "host" in config.get("OPTIONS", {}):
        config["HOST"] = config["OPTIONS"].pop("host")
    if not config.get("NAME"):
        fail(f"{name}={raw!r} is invalid; expected a database name at the end of the URL.")
    return config


def read_redis_url(name: str) -> str:
    raw = os.environ[name]
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        fail(
            f"{name}={raw!r} is invalid; expected a Redis URL such as redis://localhost:6379/0 or unix:///path/redis.sock."
        )
    return raw


def celery_url(redis_url: str) -> str:
    """Celery (kombu) spells a unix-socket Redis URL differently from redis-py."""
    if redis_url.startswith("unix://"):
        path, _, query = redis_url[len("unix://") :].partition("?")
        db = dict(part.split("=", 1) for part in query.split("&") if "=" in part).get("db", "0")
        return f"redis+socket://{path}?virtual_host={db}"
    return redis_url
