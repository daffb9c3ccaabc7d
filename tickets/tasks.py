"""Celery tasks of the tickets app: thin, take ids, call one service.

"tickets.send_ticket_reply" is routed to the email queue by its name ("*.send_*").
"""

from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings

from orders.notifications.ledger import TRANSIENT_EMAIL_ERRORS
from tickets.emails import ticket_reply_email_send

RETRY_BACKOFF_SECONDS = 5


@shared_task(bind=True, name="tickets.send_ticket_reply", max_retries=None)
def send_ticket_reply(self: Task, event_id: int) -> bool:
    try:
        return ticket_reply_email_send(event_id=event_id)
    except TRANSIENT_EMAIL_ERRORS as exc:
        if self.request.retries >= settings.EMAIL_MAX_RETRIES:
            raise
        raise self.retry(exc=exc, countdown=RETRY_BACKOFF_SECONDS * 2**self.request.retries) from exc
