"""Project-wide tasks: a ping used by /healthz and the worker smoke test; re-sending unsent tasks."""

from __future__ import annotations

import os
import socket

from celery import shared_task
from django.db import connection

from supportbot.services import unsent_tasks_requeue


@shared_task(name="supportbot.ping")
def ping() -> dict[str, object]:
    """Prove a worker is alive and can reach the database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        database = cursor.fetchone()[0]
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "database": database}


@shared_task(name="supportbot.requeue_unsent_tasks")
def requeue_unsent_tasks() -> int:
    """Beat, every minute: send again what a broker outage left unsent (see task_enqueue)."""
    return unsent_tasks_requeue()
