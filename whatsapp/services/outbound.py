"""Messages to the customer: queued as rows, posted to the Graph API in order, tracked by status.

Queueing (`outbound_queue_*`) happens inside the caller's transaction and schedules delivery
after commit. Delivery (`outbound_deliver_pending`) posts a contact's queued messages oldest
first, one transaction per message, holding the contact's row lock while it posts: two
deliveries for one number (two answers finishing at once, a redelivered task) therefore send
one after the other, in order, and never the same row twice. A transient failure (network,
429, 5xx) leaves the row queued with the error recorded and raises, so the Celery task retries
with backoff; on the last attempt, and for a permanent refusal, the row is marked failed —
staff see it in admin (WhatsApp → Outbound messages, status "failed", with the error).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from whatsapp import graph
from whatsapp.formatting import INTERACTIVE_BODY_LIMIT, answer_to_whatsapp, split_text
from whatsapp.models import OutboundMessage, WhatsAppContact
from whatsapp.services.dispatch import dispatch_on_commit

if TYPE_CHECKING:
    from chat.models import Conversation, Message, PendingAction

logger = logging.getLogger(__name__)

CONFIRM, DECLINE = "y", "n"
QUICK_REPLY_PREFIX = "qr:"
ACTION_PREFIX = "pa:"
# Queued by name: whatsapp.tasks imports these services.
DELIVER_TASK = "whatsapp.deliver_outbound"


def dispatch_delivery(contact_id: int) -> None:
    # Run in-process, the one attempt is the last: a failed message is marked failed at once.
    dispatch_on_commit(
        DELIVER_TASK, contact_id, in_process=lambda: outbound_deliver_pending(contact_id=contact_id, final_attempt=True)
    )


def action_button_id(action: PendingAction, decision: str) -> str:
    """The id a Confirm/Cancel button carries; it names the action and its idempotency key."""
    return f"{ACTION_PREFIX}{action.pk}:{action.idempotency_key}:{decision}"


def parse_action_button_id(button_id: str) -> tuple[int, str, str] | None:
    """(action id, idempotency key, "y" | "n") or None when the id is not an action button."""
    if not button_id.startswith(ACTION_PREFIX):
        return None
    parts = button_id[len(ACTION_PREFIX) :].split(":")
    if len(parts) != 3 or not parts[0].isdigit() or parts[2] not in {CONFIRM, DECLINE}:
        return None
    return int(parts[0]), parts[1], parts[2]


@transaction.atomic
def outbound_queue_text(
    *,
    contact: WhatsAppContact,
    text: str,
    conversation: Conversation | None = None,
    chat_message: Message | None = None,
    quick_replies: Sequence[str] = (),
) -> list[OutboundMessage]:
    """Queue `text` (already in WhatsApp formatting) in parts that fit a message.

    With `quick_replies` (at most three), the last part carries them as reply buttons, when
    it fits an interactive body; otherwise they follow in a short message of their own.
    """
    parts = split_text(text)
    rows = [
        OutboundMessage(
            contact=contact,
            conversation=conversation,
            chat_message=chat_message,
            kind=OutboundMessage.Kind.TEXT,
            payload=graph.text_body(to=contact.phone, text=part),
            text=part,
        )
        for part in parts
    ]
    if quick_replies:
        buttons = [(f"{QUICK_REPLY_PREFIX}{title}"[:256], title) for title in quick_replies[: graph.MAX_BUTTONS]]
        if rows and len(parts[-1]) <= INTERACTIVE_BODY_LIMIT:
            last = rows.pop()
            body = last.text
        else:
            body = "Anything else?"
        rows.append(
            OutboundMessage(
                contact=contact,
                conversation=conversation,
                chat_message=chat_message,
                kind=OutboundMessage.Kind.BUTTONS,
                payload=graph.buttons_body(to=contact.phone, text=body, buttons=buttons),
                text=body,
            )
        )
    created = OutboundMessage.objects.bulk_create(rows)
    dispatch_delivery(contact.pk)
    return created


@transaction.atomic
def outbound_queue_answer(
    *,
    contact: WhatsAppContact,
    message: Message,
    actions: Sequence[PendingAction] = (),
    quick_replies: Sequence[str] = (),
) -> list[OutboundMessage]:
    """Queue an assistant message: formatted, its citations as links, and for each action
    awaiting confirmation an interactive message with Confirm / Cancel buttons."""
    text = answer_to_whatsapp(message.text, message.citations or [])
    conversation = message.conversation
    if not actions:
        return outbound_queue_text(
            contact=contact, text=text, conversation=conversation, chat_message=message, quick_replies=quick_replies
        )
    rows: list[OutboundMessage] = []
    # A short answer becomes the body of the (first) confirmation; a long one is sent first.
    lead = text if len(text) <= INTERACTIVE_BODY_LIMIT and len(actions) == 1 else ""
    if not lead and text:
        rows += outbound_queue_text(contact=contact, text=text, conversation=conversation, chat_message=message)
    for action in actions:
        body = lead or f"Please confirm: {action.description}"
        rows.append(
            OutboundMessage.objects.create(
                contact=contact,
                conversation=conversation,
                chat_message=message,
                kind=OutboundMessage.Kind.BUTTONS,
                payload=graph.buttons_body(
                    to=contact.phone,
                    text=body,
                    buttons=[
                        (action_button_id(action, CONFIRM), "Confirm"),
                        (action_button_id(action, DECLINE), "Cancel"),
                    ],
                ),
                text=body,
            )
        )
        lead = ""
    dispatch_delivery(contact.pk)
    return rows


def outbound_deliver_pending(*, contact_id: int, final_attempt: bool) -> int:
    """Post the contact's queued messages, oldest first; returns how many were sent.

    Raises GraphTransientError (after recording it on the row) when a post should be retried,
    unless `final_attempt`, in which case the row is marked failed and delivery goes on.
    """
    sent = 0
    while True:
        retry: graph.GraphTransientError | None = None
        with transaction.atomic():
            if not WhatsAppContact.objects.select_for_update().filter(pk=contact_id).exists():
                return sent
            message = (
                OutboundMessage.objects.select_for_update()
                .filter(contact_id=contact_id, status=OutboundMessage.Status.QUEUED)
                .order_by("created_at", "id")
                .first()
            )
            if message is None:
                return sent
            message.attempts += 1
            now = timezone.now()
            try:
                message.wamid = graph.message_post(message.payload)
            except graph.GraphTransientError as exc:
                message.last_error = str(exc)[:2000]
                if final_attempt:
                    message.apply_status(OutboundMessage.Status.FAILED, at=now, error=message.last_error)
                else:
                    retry = exc
            except graph.GraphRejected as exc:
                message.apply_status(OutboundMessage.Status.FAILED, at=now, error=str(exc)[:2000])
            else:
                message.apply_status(OutboundMessage.Status.SENT, at=now)
                message.last_error = ""
                sent += 1
            message.save()
        if message.status == OutboundMessage.Status.FAILED:
            logger.warning("whatsapp message %s failed: %s", message.pk, message.last_error)
        if retry is not None:
            raise retry


@transaction.atomic
def outbound_status_apply(*, wamid: str, status: str, at: datetime, error: str = "") -> OutboundMessage | None:
    """Record a status callback on the message it is about; None when no such message."""
    message = OutboundMessage.objects.select_for_update().filter(wamid=wamid).first()
    if message is None:
        return None
    if message.apply_status(status, at=at, error=error) or status != OutboundMessage.Status.FAILED:
        message.save()
    return message


@transaction.atomic
def outbound_retry_failed(*, message_ids: Sequence[int]) -> int:
    """Queue failed messages again (staff, from admin); returns how many."""
    failed = OutboundMessage.objects.select_for_update().filter(
        pk__in=message_ids, status=OutboundMessage.Status.FAILED
    )
    contacts = set(failed.values_list("contact_id", flat=True))
    count = failed.update(status=OutboundMessage.Status.QUEUED, failed_at=None)
    for contact_id in contacts:
        dispatch_delivery(contact_id)
    return count
