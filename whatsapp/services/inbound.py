"""What arrives at the webhook: checked, stored once, then processed by a Celery task.

The view checks the signature (`webhook_signature_valid`), stores each message and status
callback as an InboundEvent (`webhook_events_store`; its unique key turns a redelivery into a
no-op) and answers 200 at once. `inbound_event_process` runs in the worker: it locks the
event, handles it, and marks it processed in the same transaction — a crash rolls everything
back and leaves the event to be processed again, never half-done; a second run finds it
processed and does nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assistant import actions as actions_service
from assistant.turn import chat_turn
from assistant.types import OFFER_HUMAN
from chat.limits import MESSAGE_TOO_LONG, message_too_long
from chat.models import Conversation, Message, PendingAction, ToolCallLog
from chat.services.ratelimit import check_chat_turn_rate
from supportbot.errors import ApplicationError, InvalidInput, RateLimited
from whatsapp.models import InboundEvent, WhatsAppContact
from whatsapp.services import linking
from whatsapp.services.contacts import acting_customer, contact_conversation, contact_for_phone
from whatsapp.services.dispatch import dispatch_on_commit
from whatsapp.services.outbound import (
    CONFIRM,
    QUICK_REPLY_PREFIX,
    outbound_queue_answer,
    outbound_queue_text,
    outbound_status_apply,
    parse_action_button_id,
)

logger = logging.getLogger(__name__)

SIGNATURE_PREFIX = "sha256="
TALK_TO_A_PERSON = "Talk to a person"
NOT_TEXT_REPLY = "I can read text messages and button replies here. Please type your question."


# --- the webhook ---------------------------------------------------------------------------


def webhook_signature_valid(*, body: bytes, header: str) -> bool:
    """Whether `header` (X-Hub-Signature-256) is the HMAC-SHA256 of the raw `body` under the app secret."""
    secret = settings.WHATSAPP_APP_SECRET
    if not secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    given = header[len(SIGNATURE_PREFIX) :].strip().lower().encode("ascii", "replace")
    return hmac.compare_digest(expected, given)


def verification_challenge(*, mode: str, token: str, challenge: str) -> str | None:
    """The challenge to echo when Meta's handshake carries our verify token; None otherwise."""
    expected = settings.WHATSAPP_VERIFY_TOKEN
    if mode != "subscribe" or not expected or not challenge:
        return None
    if not hmac.compare_digest(expected.encode(), token.encode()):
        return None
    return challenge


@transaction.atomic
def webhook_events_store(*, payload: Any) -> list[InboundEvent]:
    """Store the messages and status callbacks of one webhook delivery; returns the new ones.

    Events already stored (a redelivery) are skipped; each new one is queued for processing
    after commit. Raises InvalidInput for a body that is not a WhatsApp Business notification.
    """
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise InvalidInput("Expected a WhatsApp Business Account notification (object: whatsapp_business_account).")
    created: list[InboundEvent] = []
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            if change.get("field", "messages") != "messages" or not isinstance(change.get("value"), dict):
                continue
            value = change["value"]
            names = {
                str(contact.get("wa_id")): str((contact.get("profile") or {}).get("name") or "")
                for contact in _dicts(value.get("contacts"))
            }
            for message in _dicts(value.get("messages")):
                key, sender = str(message.get("id") or ""), str(message.get("from") or "")
                if key and sender.isdigit():
                    payload_ = {"message": message, "profile_name": names.get(sender, "")}
                    created += _store(key=key, kind=InboundEvent.Kind.MESSAGE, phone=sender, payload=payload_)
            for status in _dicts(value.get("statuses")):
                wamid, state = str(status.get("id") or ""), str(status.get("status") or "")
                if wamid and state:
                    created += _store(
                        key=f"{wamid}:{state}",
                        kind=InboundEvent.Kind.STATUS,
                        phone=str(status.get("recipient_id") or ""),
                        payload={"status": status},
                    )
    return created


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _store(*, key: str, kind: str, phone: str, payload: dict[str, Any]) -> list[InboundEvent]:
    event, new = InboundEvent.objects.get_or_create(
        key=key[:255], defaults={"kind": kind, "phone": phone[:20], "payload": payload}
    )
    if not new:
        return []
    dispatch_processing(event.pk)
    return [event]


# --- processing ----------------------------------------------------------------------------

# Queued by name: whatsapp.tasks imports these services.
PROCESS_TASK = "whatsapp.process_inbound_event"


def dispatch_processing(event_id: int) -> None:
    dispatch_on_commit(PROCESS_TASK, event_id, in_process=lambda: inbound_event_process(event_id=event_id))


def inbound_event_process(*, event_id: int) -> bool:
    """Process one stored event, at most once. False when it was already processed (or failed).

    An unexpected error rolls the processing back and marks the event failed, with the
    error, for staff (admin can queue it again).
    """
    try:
        with transaction.atomic():
            event = InboundEvent.objects.select_for_update().filter(pk=event_id).first()
            if event is None or event.state != InboundEvent.State.RECEIVED:
                return False
            if event.kind == InboundEvent.Kind.MESSAGE:
                _process_message(event)
            else:
                _process_status(event)
            event.state = InboundEvent.State.PROCESSED
            event.processed_at = timezone.now()
            event.save(update_fields=["state", "processed_at", "contact", "conversation", "error"])
        return True
    except Exception as exc:  # noqa: BLE001 - recorded on the event for staff; the webhook already answered
        logger.exception("whatsapp event %s failed", event_id)
        InboundEvent.objects.filter(pk=event_id, state=InboundEvent.State.RECEIVED).update(
            state=InboundEvent.State.FAILED,
            error=f"{exc.__class__.__name__}: {exc}"[:2000],
            processed_at=timezone.now(),
        )
        return False


@transaction.atomic
def inbound_event_retry(*, event_id: int) -> bool:
    """Queue a failed event for processing again (staff, from admin)."""
    updated = InboundEvent.objects.filter(pk=event_id, state=InboundEvent.State.FAILED).update(
        state=InboundEvent.State.RECEIVED, error="", processed_at=None
    )
    if updated:
        dispatch_processing(event_id)
    return bool(updated)


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _process_status(event: InboundEvent) -> None:
    status = event.payload["status"]
    # Waits for a delivery in progress to this number (it holds the contact row while it
    # posts), so a "sent" callback that overtakes the delivery's commit still finds its row.
    contact = WhatsAppContact.objects.select_for_update().filter(phone=event.phone).first()
    event.contact = contact
    errors = "; ".join(
        f"{error.get('code', '')} {error.get('title') or error.get('message') or ''}".strip()
        for error in _dicts(status.get("errors"))
    )
    message = outbound_status_apply(
        wamid=str(status["id"]),
        status=str(status["status"]),
        at=_timestamp(status.get("timestamp")) or timezone.now(),
        error=errors,
    )
    if message is None:
        event.error = "No outbound message has this id."
    else:
        event.conversation_id = message.conversation_id


def _read(message: dict[str, Any]) -> tuple[str | None, str | None]:
    """(text, button id) of an incoming message; text None for what we can't read."""
    kind = message.get("type")
    if kind == "text":
        return str((message.get("text") or {}).get("body") or ""), None
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        return str(reply.get("title") or ""), str(reply.get("id") or "")
    if kind == "button":  # a template's quick-reply button
        button = message.get("button") or {}
        return str(button.get("text") or ""), str(button.get("payload") or "")
    return None, None


def _process_message(event: InboundEvent) -> None:
    message = event.payload["message"]
    contact = contact_for_phone(phone=event.phone, profile_name=event.payload.get("profile_name", ""))
    event.contact = contact
    sent_at = _timestamp(message.get("timestamp")) or timezone.now()
    # Chosen before the new message moves the window: a silence past it starts a fresh chat.
    conversation = contact_conversation(contact=contact, now=sent_at)
    event.conversation = conversation
    if contact.last_inbound_at is None or sent_at > contact.last_inbound_at:
        contact.last_inbound_at = sent_at
        contact.save(update_fields=["last_inbound_at"])

    text, button_id = _read(message)
    if button_id:
        decision = parse_action_button_id(button_id)
        if decision is not None:
            _decide_action(event, contact, *decision)
            return
        if button_id.startswith(QUICK_REPLY_PREFIX):
            text = button_id[len(QUICK_REPLY_PREFIX) :] or text
    text = (text or "").strip()
    if not text:
        outbound_queue_text(contact=contact, text=NOT_TEXT_REPLY, conversation=conversation)
        return
    if _linking(contact, text, conversation):
        return
    _answer(contact, conversation, text)


def _linking(contact: WhatsAppContact, text: str, conversation: Conversation) -> bool:
    """Handle asking to link, an account email, and a code reply; True when the message was one."""
    ask = linking.LINK_ASK.match(text)
    email = linking.LINK_EMAIL.match(text)
    code = linking.CODE_REPLY.match(text)
    if ask is None and email is None and code is None:
        return False
    if contact.is_verified:
        if ask is None and (email is None or not email.group("phrase")):
            return False  # a bare address or six digits from a linked number are just a message
        name = contact.customer.first_name if contact.customer else ""
        reply = f"This number is already linked to {name + '’s' if name else 'a'} Cobalt Market account."
    elif ask is not None:
        reply = linking.EMAIL_QUESTION
    elif email is not None:
        try:
            reply = linking.link_code_request(contact=contact, email=email.group("email"))
        except ApplicationError as exc:
            reply = exc.message
    else:
        if not linking.link_code_pending(contact):
            return False
        try:
            customer = linking.link_code_confirm(contact=contact, code=code.group("code") if code else "")
        except ApplicationError as exc:
            reply = exc.message
        else:
            reply = linking.linked_reply(customer)
    outbound_queue_text(contact=contact, text=reply, conversation=conversation)
    return True


def _answer(contact: WhatsAppContact, conversation: Conversation, text: str) -> None:
    customer = acting_customer(contact)
    # Linked accounts and guests both have a login (the guest's is inactive); an account
    # whose login was deleted since linking chats as no one.
    if customer.user is None:
        outbound_queue_text(contact=contact, text=linking.link_instructions(), conversation=conversation)
        return
    # Before the rate limit, as on the web: a refused message doesn't use up the allowance.
    if message_too_long(text.strip()):
        outbound_queue_text(contact=contact, text=MESSAGE_TOO_LONG, conversation=conversation)
        return
    try:
        check_chat_turn_rate(customer=customer)
    except RateLimited as exc:
        # One notice per burst: answering every refused message would send a flood as many replies.
        since = timezone.now() - timedelta(seconds=exc.extra["retry_after"])
        if not contact.outbound_messages.filter(text=exc.message, created_at__gte=since).exists():
            outbound_queue_text(contact=contact, text=exc.message, conversation=conversation)
        return
    turn_started = timezone.now()
    try:
        replies = chat_turn(conversation=conversation, text=text, user=customer.user, verified=contact.is_verified)
    except ApplicationError as exc:
        outbound_queue_text(contact=contact, text=exc.message, conversation=conversation)
        return
    _queue_replies(contact, replies)
    if not contact.is_verified:
        refused = ToolCallLog.objects.filter(
            conversation=conversation, created_at__gte=turn_started, error_code="unverified"
        ).exists()
        told = any("link you@example.com" in reply.text for reply in replies)
        if refused and not told:
            outbound_queue_text(contact=contact, text=linking.link_instructions(), conversation=conversation)


def _queue_replies(contact: WhatsAppContact, replies: list[Message]) -> None:
    for reply in replies:
        if reply.role != Message.Role.ASSISTANT or not reply.text.strip():
            continue
        actions = list(PendingAction.objects.filter(message=reply, status=PendingAction.Status.PROPOSED).order_by("pk"))
        quick = [TALK_TO_A_PERSON] if OFFER_HUMAN in reply.text and not actions else []
        outbound_queue_answer(contact=contact, message=reply, actions=actions, quick_replies=quick)


def _decide_action(event: InboundEvent, contact: WhatsAppContact, action_id: int, key: str, decision: str) -> None:
    """A Confirm / Cancel button: the action runs at most once, however often it is pressed."""
    customer = acting_customer(contact)
    conversation = event.conversation
    try:
        if decision == CONFIRM:
            result = actions_service.action_confirm(action_id=action_id, customer=customer, idempotency_key=key)
        else:
            result = actions_service.action_decline(action_id=action_id, customer=customer)
    except ApplicationError as exc:
        outbound_queue_text(contact=contact, text=exc.message, conversation=conversation)
        return
    event.conversation = result.action.conversation
    if result.replayed:
        replayed_words: dict[str, str] = {
            PendingAction.Status.CONFIRMED: "That was already done",
            PendingAction.Status.DECLINED: "You already declined that",
            PendingAction.Status.EXPIRED: "That request had expired",
            PendingAction.Status.SUPERSEDED: "A newer request replaced that one",
        }
        done = replayed_words.get(result.action.status, "That was already decided")
        outbound_queue_text(
            contact=contact, text=f"{done} — nothing more has changed.", conversation=result.action.conversation
        )
        return
    _queue_replies(contact, result.messages)
