"""The offline assistant's memory of a conversation: the active form, its slots, the last topic.

Stored as JSON in chat.models_offline.DialogueState (one row per conversation). `form` is
the task being filled in ("cancel", "return", ...) and `slots` what is known for it; the
`last_*` fields outlive a form, so "and where is it now?" after a cancellation still knows
which order. `offer` is a yes/no question the assistant asked (restock alert, a person),
answered by the next affirm/deny.

The focus (`last_product_id`, `focus_options`, `product_values`, `frame`) is what a short
follow-up is read against: "let me know when it's back" keeps the size and colour asked about,
and "11 blue" after a stock answer is an option of that product, not a new search. `queue`
holds the rest of a message that asked for several things while the first one is being
finished.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chat.models import Conversation
from chat.models_offline import DialogueState

# Slots a follow-up for another order may reuse when the customer says "same reason", "same card".
CARRIED_SLOTS = ("reason", "payment_method_id")


@dataclass
class State:
    form: str = ""
    slots: dict[str, Any] = field(default_factory=dict)
    # The slot the last question asked for, so a bare answer ("the gift card") lands there.
    asking: str = ""
    last_order_id: str = ""
    last_product_id: str = ""
    # Option values (normalised) the customer named for the product in focus, and every option
    # value that product has, so a bare "11 blue" can be recognised as one of its options.
    focus_options: list[str] = field(default_factory=list)
    product_values: list[str] = field(default_factory=list)
    # The attributes last asked about ("waterproof"), for "what about the rain jacket?".
    last_attributes: list[str] = field(default_factory=list)
    # What the assistant's last catalog question was about: "stock" or "restock" (which option
    # to alert about); "" when it asked nothing about a product.
    frame: str = ""
    # Requests from a compound message still to handle, each {"text": ..., "topic": ...}.
    queue: list[dict[str, str]] = field(default_factory=list)
    # The last task form started, so "and the other one?" can ask for the same for another order,
    # and what it was given that another order can reuse ("same reason").
    last_form: str = ""
    last_slots: dict[str, Any] = field(default_factory=dict)
    offer: dict[str, Any] = field(default_factory=dict)
    # The PendingAction this form proposed, superseded if the customer corrects the form.
    proposed_action_id: int | None = None
    turns: int = 0

    def start(self, form: str, **slots: Any) -> None:
        self.form, self.slots, self.asking, self.offer, self.proposed_action_id = form, dict(slots), "", {}, None
        self.last_form = form

    def finish(self) -> None:
        # What "same reason" or "the same card" in the next request can reuse.
        kept = {key: self.slots[key] for key in CARRIED_SLOTS if self.slots.get(key)}
        if kept:
            self.last_slots = kept
        self.form, self.slots, self.asking = "", {}, ""

    def focus_product(self, product_id: str, *, values: list[str], options: list[str]) -> None:
        """Put a product in focus; the named options carry over while the product stays the same."""
        if product_id != self.last_product_id:
            self.focus_options = []
        self.last_product_id, self.product_values = product_id, values
        if options:
            self.focus_options = options

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
