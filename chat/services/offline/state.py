"""The offline assistant's memory of a conversation: the active form, its slots, the last topic.

Stored as JSON in chat.models_offline.DialogueState (one row per conversation). `form` is
the task being filled in ("cancel", "return", ...) and `slots` what is known for it; the
`last_*` fields outlive a form, so "and where is it now?" after a cancellation still knows
which order. `offer` is a yes/no question the assistant asked (restock alert, a person),
answered by the next affirm/deny.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from chat.models import Conversation
from chat.models_offline import DialogueState


@dataclass
class State:
    form: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    # The slot the last question asked for, so a bare answer ("the gift card") lands there.
    asking: str = ""
    last_order_id: str = ""
    last_product_id: str = ""
    offer: dict[str, Any] = field(default_factory=dict)
    # The PendingAction this form proposed, superseded if the customer corrects the form.
    proposed_action_id: int | None = None
    turns: int = 0

    def start(self, form: str, **slots: Any) -> None:
        self.form, self.slots, self.asking, self.offer, self.proposed_action_id = form, dict(slots), "", {}, None

    def finish(self) -> None:
        self.form, self.slots, self.asking = "", {}, ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known)


def state_load(*, conversation: Conversation) -> State:
    row = DialogueState.objects.filter(pk=conversation.pk).values_list("data", flat=True).first()
    return State.from_json(row) if isinstance(row, dict) else State()


_STATE_UPSERT_SQL = """
INSERT INTO chat_dialoguestate (conversation_id, data, updated_at) VALUES (%s, %s::jsonb, %s)
ON CONFLICT (conversation_id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at
"""


def state_save(*, conversation: Conversation, state: State) -> None:
    # One statement (INSERT … ON CONFLICT DO UPDATE), atomic by itself: bulk_create's upsert
    # would wrap it in BEGIN/COMMIT, two more round trips on every offline turn.
    with connection.cursor() as cursor:
        cursor.execute(_STATE_UPSERT_SQL, [conversation.pk, json.dumps(state.as_json()), timezone.now()])
