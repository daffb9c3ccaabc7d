"""Celery tasks of the WhatsApp channel: thin, take ids, call one service.

Names avoid the "send_"/"email_" patterns for the default-queue tasks (those route to the
email queue); "whatsapp.email_link_code" goes to the email queue on purpose.
"""

from __future__ import annotations

from celery import Task, shared_task
from django.conf import settings

from orders.notifications.ledger import TRANSIENT_EMAIL_ERRORS
from whatsapp.graph import GraphTransientError
from whatsapp.services.inbound import inbound_event_process
from whatsapp.services.linking import link_code_email_send
from whatsapp.services.outbound import outbound_deliver_pending

# Delivery retries: 2, 4, 8, 16, 32 … seconds apart (capped at 10 minutes), then failed.
DELIVERY_MAX_RETRIES = 6
DELIVERY_BACKOFF_SECONDS = 2
EMAIL_BACKOFF_SECONDS = 5


@shared_task(name="whatsapp.process_inbound_event")
def process_inbound_event(event_id: int) -> bool:
    return inbound_event_process(event_id=event_id)


@shared_task(
    bind=True,
    name="whatsapp.deliver_outbound",
    autoretry_for=(GraphTransientError,),
    max_retries=DELIVERY_MAX_RETRIES,
    retry_backoff=DELIVERY_BACKOFF_SECONDS,
    retry_backoff_max=600,
    retry_jitter=False,
)
def deliver_outbound(self: Task, contact_id: int) -> int:
    return outbound_deliver_pending(contact_id=contact_id, final_attempt=self.request.retries >= DELIVERY_MAX_RETRIES)


@shared_task(bind=True, name="whatsapp.email_link_code", max_retries=None)
def email_link_code(self: Task, link_code_id: int, code: str) -> bool:
    try:
        return link_code_email_send(link_code_id=link_code_id, code=code)
    except TRANSIENT_EMAIL_ERRORS as exc:
        if self.request.retries >= settings.EMAIL_MAX_RETRIES:
            raise
        raise self.retry(exc=exc, countdown=EMAIL_BACKOFF_SECONDS * 2**self.request.retries) from exc
