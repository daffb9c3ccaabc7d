"""Celery tasks of the tickets app: thin, take ids, call one service.

Queues follow the task names (supportbot/celery.py): "tickets.send_ticket_reply" goes to the
email queue ("*.send_*"), "tickets.summarize_ticket" to the llm queue ("*.summarize_*"), so a
slow provider never holds up customer email.
"""

from __future__ import annotations

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from assistant.staff import SummaryUnavailable, ticket_summary_refresh
from orders.notifications.ledger import TRANSIENT_EMAIL_ERRORS
from tickets.analytics_rollup import dashboard_rollup_seal
from tickets.emails import ticket_reply_email_send

RETRY_BACKOFF_SECONDS = 5

# An LLM outage: each attempt already spends up to LLM_RETRY_BUDGET retrying inside
# chat_completion; the job then tries again 2, 4, 8 s later (full jitter) before it is recorded
# as a FailedTask for staff to retry. The ticket keeps its current (extractive) summary meanwhile.
SUMMARY_MAX_RETRIES = 3
SUMMARY_RETRY_BACKOFF = 2
SUMMARY_RETRY_BACKOFF_MAX = 300


@shared_task(bind=True, name="tickets.send_ticket_reply", max_retries=None)
def send_ticket_reply(self: Task, event_id: int) -> bool:
    try:
        return ticket_reply_email_send(event_id=event_id)
    except TRANSIENT_EMAIL_ERRORS as exc:
        if self.request.retries >= settings.EMAIL_MAX_RETRIES:
            raise
        raise self.retry(exc=exc, countdown=RETRY_BACKOFF_SECONDS * 2**self.request.retries) from exc


@shared_task(bind=True, name="tickets.summarize_ticket", max_retries=SUMMARY_MAX_RETRIES)
def summarize_ticket(self: Task, ticket_id: int) -> str:
    """Write the ticket's summary (LLM when configured, extractive otherwise). Safe to run twice."""
    try:
        ticket = ticket_summary_refresh(ticket_id=ticket_id)
    except SummaryUnavailable as exc:
        countdown = get_exponential_backoff_interval(
            factor=SUMMARY_RETRY_BACKOFF,
            retries=self.request.retries,
            maximum=SUMMARY_RETRY_BACKOFF_MAX,
            full_jitter=True,
        )
        # Past max_retries this raises `exc`: the task fails and is recorded as a FailedTask.
        raise self.retry(exc=exc, countdown=countdown) from exc
    return "no such ticket" if ticket is None else "stored"


@shared_task(name="tickets.seal_dashboard_rollup")
def seal_dashboard_rollup() -> int:
    """Hourly (beat): seal the finished days of the dashboard's latency rollup. Safe to run twice."""
    return dashboard_rollup_seal().sealed_days
