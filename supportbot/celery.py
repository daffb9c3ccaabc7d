"""The Celery app: tasks autodiscovered per app, queues by kind of work, beat in the database."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")

app = Celery("supportbot")
app.config_from_object("django.conf:settings", namespace="CELERY")

# Queues by kind of work, so slow embedding or LLM jobs never hold up customer email.
# Each queue gets its own routing key: with one shared key every queue would receive a copy.
app.conf.task_queues = [
    Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ("default", "email", "embeddings", "llm")
]
app.conf.task_default_exchange = "default"
app.conf.task_default_routing_key = "default"
app.conf.task_routes = {
    "*.send_*": {"queue": "email"},
    "*.email_*": {"queue": "email"},
    "knowledge.*": {"queue": "embeddings"},
    "*.summarize_*": {"queue": "llm"},
    "chat.tasks.turn_answer_*": {"queue": "llm"},
}
app.autodiscover_tasks()
