"""Database connections in long-lived async requests (the chat stream, a turn waiting on the model).

Django hands a request's connection back only when the request ends. A stream stays open for as
long as the model takes, so each open stream would keep one of the pool's connections and the
pool (DATABASE_POOL_MAX_SIZE per process) would run dry at a few dozen customers. Code that is
about to wait calls `release_pooled_connection` at the end of its synchronous step instead; the
next step borrows a connection again.
"""

from __future__ import annotations

from django.db import connection


def release_pooled_connection() -> None:
    """Give this thread's pooled connection back to the pool now.

    Only a pooled connection outside a transaction: elsewhere (Celery, management commands,
    tests inside their transaction, an eval's rolled-back transaction) nothing changes.
    """
    if connection.settings_dict.get("OPTIONS", {}).get("pool") and not connection.in_atomic_block:
        connection.close()
