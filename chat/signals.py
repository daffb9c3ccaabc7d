"""Signals the chat app sends to the channels above it (which chat never imports).

`unanswered_message_apologized(message=Message)`: the recovery sweep stored an apology for a
customer message that was never answered (chat.services.turns.messages_apologize_unanswered),
inside the transaction that holds the conversation's row lock. A channel that delivers messages
itself (WhatsApp) sends it; the web chat and the API show it with the conversation.
"""

from __future__ import annotations

from django.dispatch import Signal

unanswered_message_apologized = Signal()
