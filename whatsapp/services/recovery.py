"""The recovery sweep's apology for an unanswered message, sent on WhatsApp.

A worker killed while answering a WhatsApp message leaves the customer's message without a
reply; chat's sweep stores an apology (chat.services.turns.messages_apologize_unanswered) and
this receiver queues it to the number, while Meta's customer-service window allows free-form
messages. Outside it the apology stays in the conversation, where staff and the next turn see it.
"""

from __future__ import annotations

from chat.models import Conversation, Message
from whatsapp.selectors import contact_for_conversation
from whatsapp.services.outbound import outbound_queue_text


def apology_deliver(*, message: Message) -> bool:
    """Queue `message` to the conversation's number; False when it is not a WhatsApp conversation
    or the window is closed."""
    conversation = message.conversation
    if conversation.channel != Conversation.Channel.WHATSAPP:
        return False
    contact = contact_for_conversation(conversation=conversation)
    if contact is None or not contact.in_session_window():
        return False
    outbound_queue_text(contact=contact, text=message.text, conversation=conversation, chat_message=message)
    return True


def apology_on_whatsapp(sender: object, *, message: Message, **kwargs: object) -> bool:
    """Receiver of chat.signals.unanswered_message_apologized (connected in WhatsAppConfig.ready)."""
    return apology_deliver(message=message)
