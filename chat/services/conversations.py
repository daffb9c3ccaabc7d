"""Starting a conversation (the web chat, the JSON API and WhatsApp open one the same way)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chat.models import Conversation
from supportbot.errors import InvalidInput

if TYPE_CHECKING:
    from orders.models import Customer


def conversation_start(*, customer: Customer, channel: str = Conversation.Channel.WEB) -> Conversation:
    if channel not in Conversation.Channel.values:
        raise InvalidInput(f"Unknown channel {channel!r}; expected one of {', '.join(Conversation.Channel.values)}.")
    return Conversation.objects.create(customer=customer, channel=channel)
