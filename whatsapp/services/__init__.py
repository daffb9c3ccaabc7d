"""Writes of the WhatsApp channel, re-exported from their modules.

inbound   the webhook (signature, handshake, storing events) and processing an event
outbound  queueing replies, delivering them to the Graph API, status callbacks
contacts  numbers, their guest or linked customer, the current conversation
linking   one-time codes emailed to the account and typed back in WhatsApp
staff     staff replies on WhatsApp inside the customer-service window, else email
dispatch  after-commit hand-off to Celery (inline for the terminal simulator)
"""

from whatsapp.services.contacts import (
    acting_customer,
    contact_conversation,
    contact_for_phone,
    contact_link,
    contact_unlink,
    contact_unlink_for_customer,
)
from whatsapp.services.inbound import (
    inbound_event_process,
    inbound_event_retry,
    verification_challenge,
    webhook_events_store,
    webhook_signature_valid,
)
from whatsapp.services.linking import (
    link_code_confirm,
    link_code_email_send,
    link_code_request,
    link_instructions,
)
from whatsapp.services.outbound import (
    action_button_id,
    outbound_deliver_pending,
    outbound_queue_answer,
    outbound_queue_text,
    outbound_retry_failed,
    outbound_status_apply,
)
from whatsapp.services.staff import staff_reply_deliver

__all__ = [
    "acting_customer",
    "action_button_id",
    "contact_conversation",
    "contact_for_phone",
    "contact_link",
    "contact_unlink",
    "contact_unlink_for_customer",
    "inbound_event_process",
    "inbound_event_retry",
    "link_code_confirm",
    "link_code_email_send",
    "link_code_request",
    "link_instructions",
    "outbound_deliver_pending",
    "outbound_queue_answer",
    "outbound_queue_text",
    "outbound_retry_failed",
    "outbound_status_apply",
    "staff_reply_deliver",
    "verification_challenge",
    "webhook_events_store",
    "webhook_signature_valid",
]
