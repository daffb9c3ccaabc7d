"""Dialogue state of the offline assistant, one row per conversation.

Conversation has no field for it, so it lives here: the active form (cancel, return, ...),
its slots, and what was last talked about (order, product, an offer awaiting a yes). Plain
JSON, owned by assistant.offline.state; a new form or a topic switch rewrites it whole.
"""

from __future__ import annotations

from django.db import models


class DialogueState(models.Model):
    conversation = models.OneToOneField(
        "chat.Conversation", on_delete=models.CASCADE, primary_key=True, related_name="dialogue_state"
    )
    data = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Dialogue state of conversation {self.pk}: {self.data.get('form') or 'idle'}"
