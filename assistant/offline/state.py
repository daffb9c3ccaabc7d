"""The offline assistant's memory of a conversation: the active form, its slots, the last topic.

Stored as JSON in chat.models_offline.DialogueState (one row per conversation). `form` is
the task being filled in ("cancel", "return", ...) and `slots` what is known for it; the
`last_*` fields outlive a form, so "and where is it now?" after a cancellation still knows
which order. `offer` is a yes/no question the assistant asked (restock alert, a person),
answered by the next affirm/deny.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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


def state_save(*, conversation: Conversation, state: State) -> None:
    DialogueState.objects.update_or_create(conversation_id=conversation.pk, defaults={"data": state.as_json()})
