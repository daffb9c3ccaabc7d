"""Which models the export and the erasure handle, declared by the code that handles them.

Each export section registers with `@exports(name, Model)` and each erasure step with
`@erases(Model)`, so the lists below cannot drift from what the functions do. The coverage
test (tickets/tests/test_data_rights_coverage.py) walks every installed model and fails for one
that refers to a customer and is in none of them — a new model with a Customer foreign key
is caught before it ships.

Erasure also covers what the database deletes along with an erased row (`on_delete=CASCADE`):
`erased_models()` follows those relations from Django's own metadata. SET_NULL children are
not covered that way, because their rows stay behind with the customer's data in them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models

if TYPE_CHECKING:
    from tickets.data_rights.subject import ErasureReport, Subject

Exporter = Callable[["Subject"], list[dict[str, Any]]]
Eraser = Callable[["Subject", "ErasureReport"], None]


@dataclass(frozen=True)
class ExportSection:
    name: str
    model: str
    rows: Exporter


@dataclass(frozen=True)
class ErasureStep:
    model: str
    run: Eraser
    # False for a step that overwrites personal fields and keeps the row (its children stay too).
    deletes: bool


# In registration order: erasure steps run in this order, so a step that finds rows through a
# conversation registers before the step that deletes conversations.
EXPORT_SECTIONS: list[ExportSection] = []
ERASURE_STEPS: list[ErasureStep] = []


def exports(name: str, model: str) -> Callable[[Exporter], Exporter]:
    """Register an export section: `rows(subject)` returns the customer's rows of `model`."""

    def register(rows: Exporter) -> Exporter:
        assert all(section.name != name for section in EXPORT_SECTIONS), f"export section {name!r} registered twice"
        EXPORT_SECTIONS.append(ExportSection(name=name, model=model, rows=rows))
        return rows

    return register


def erases(model: str) -> Callable[[Eraser], Eraser]:
    """Register an erasure step that deletes the customer's rows of `model`."""
    return _erasure_step(model, deletes=True)


def anonymises(model: str) -> Callable[[Eraser], Eraser]:
    """Register an erasure step that keeps the customer's rows of `model` but overwrites their
    personal fields."""
    return _erasure_step(model, deletes=False)


def _erasure_step(model: str, *, deletes: bool) -> Callable[[Eraser], Eraser]:
    def register(run: Eraser) -> Eraser:
        ERASURE_STEPS.append(ErasureStep(model=model, run=run, deletes=deletes))
        return run

    return register


def exported_models() -> set[str]:
    return {section.model for section in EXPORT_SECTIONS}


def erased_models() -> set[str]:
    """Models whose rows about the customer are gone or anonymised after an erasure: those with
    a step, and those the database deletes along with a deleting step's rows (CASCADE, followed
    transitively; an anonymised row is kept, and so are its children)."""
    deleted = {step.model for step in ERASURE_STEPS if step.deletes}
    frontier = list(deleted)
    while frontier:
        parent = apps.get_model(frontier.pop())
        for relation in parent._meta.get_fields(include_hidden=True):
            if not isinstance(relation, models.ForeignObjectRel) or relation.on_delete is not models.CASCADE:
                continue
            child = relation.related_model._meta.label
            if child not in deleted:
                deleted.add(child)
                frontier.append(child)
    return deleted | {step.model for step in ERASURE_STEPS}


# Models with no key to a customer whose text names one. The coverage test treats them (and
# the models that point at them) as the customer's data, like those with a Customer/User key.
PERSONAL_TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    # django-axes: every login attempt, with the username typed and the client address.
    "axes.AccessAttempt": ("username", "ip_address", "user_agent", "post_data"),
    "axes.AccessFailureLog": ("username", "ip_address", "user_agent"),
    "axes.AccessLog": ("username", "ip_address", "user_agent"),
    # A failed task's arguments: emails (password reset), order ids, and the error text.
    "supportbot.FailedTask": ("args", "kwargs", "exception", "traceback"),
    # Resolved-ticket documents quote the customer of the ticket.
    "knowledge.Document": ("title", "body", "source"),
    # The raw webhook payload: the sender's number and profile name.
    "whatsapp.InboundEvent": ("phone", "payload"),
}
