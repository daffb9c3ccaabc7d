"""How long a customer's message may be: one limit for the web chat, the JSON API and WhatsApp.

4,000 characters: room for a pasted order confirmation or a long complaint (WhatsApp itself
allows 4,096), while bounding what one turn sends to the brain and stores.
"""

from __future__ import annotations

MAX_MESSAGE_CHARS = 4000

# Said the same way on every channel, naming the limit so the customer knows what to cut.
MESSAGE_TOO_LONG = (
    f"Your message is too long. Please keep it to {MAX_MESSAGE_CHARS:,} characters or fewer "
    "— you can split it into several messages."
)


def message_too_long(text: str) -> bool:
    """Whether `text` (already stripped) is over the limit."""
    return len(text) > MAX_MESSAGE_CHARS
