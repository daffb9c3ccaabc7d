"""Every installed model that holds a customer's data is exported and erased (or kept for a
stated reason): a model added later with a key to Customer or User fails here until
tickets.data_rights handles it."""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.test.utils import isolate_apps

from orders.models import Customer
from tickets.data_rights import (
    ERASED_MODELS,
    EXPORTED_MODELS,
    NOT_EXPORTED,
    PERSONAL_TEXT_FIELDS,
    RETAINED_ON_ERASURE,
)

# Models that point at the customer's data but hold nothing personal of their own.
NO_PERSONAL_DATA: dict[str, str] = {}


def personal_models(candidates: Iterable[type[models.Model]]) -> dict[str, str]:
    """Each model that refers to a person, with the path that makes it so: a key to Customer or
    User, a field known to hold personal text, or a key to a model that does (Message →
    Conversation → Customer), followed transitively."""
    candidates = list(candidates)
    reasons = {Customer._meta.label: "is the customer", get_user_model()._meta.label: "is the login"}
    reasons.update({label: f"text fields {', '.join(fields)}" for label, fields in PERSONAL_TEXT_FIELDS.items()})
    changed = True
    while changed:
        changed = False
        for model in candidates:
            label = model._meta.label
            if label in reasons:
                continue
            for field in model._meta.get_fields():
                target = field.related_model if field.is_relation and field.concrete or field.many_to_many else None
                if isinstance(target, type) and target._meta.label in reasons and not field.auto_created:
                    reasons[label] = f"{field.name} → {target._meta.label}"
                    changed = True
                    break
    return {label: reason for label, reason in reasons.items() if label in {m._meta.label for m in candidates}}


def unhandled(candidates: Iterable[type[models.Model]]) -> list[str]:
    problems = []
    for label, reason in sorted(personal_models(candidates).items()):
        if label in NO_PERSONAL_DATA:
            continue
        if label not in EXPORTED_MODELS and label not in NOT_EXPORTED:
            problems.append(f"{label} ({reason}) is not in the data export")
        if label not in ERASED_MODELS and label not in RETAINED_ON_ERASURE:
            problems.append(f"{label} ({reason}) is not erased")
    return problems


def test_every_installed_model_with_personal_data_is_exported_and_erased():
    installed = apps.get_models()
    assert {"axes.AccessAttempt", "django_celery_beat.PeriodicTask", "whatsapp.InboundEvent"} <= {
        model._meta.label for model in installed
    }
    found = personal_models(installed)
    # The walk reaches through intermediate models, not only direct keys.
    assert {
        "chat.Message",
        "chat.DialogueState",
        "knowledge.Chunk",
        "orders.OrderItem",
        "axes.AccessAttemptExpiration",
    } <= found.keys()
    assert unhandled(installed) == []


def test_a_new_model_with_a_customer_key_fails_the_walk():
    with isolate_apps("tickets"):

        class LoyaltyCard(models.Model):
            customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True)

            class Meta:
                app_label = "tickets"

            def __str__(self) -> str:
                return f"card {self.pk}"

        class LoyaltyStamp(models.Model):
            card = models.ForeignKey(LoyaltyCard, on_delete=models.CASCADE)

            class Meta:
                app_label = "tickets"

            def __str__(self) -> str:
                return f"stamp {self.pk}"

        problems = unhandled([*apps.get_models(), LoyaltyCard, LoyaltyStamp])

    assert problems == [
        "tickets.LoyaltyCard (customer → orders.Customer) is not in the data export",
        "tickets.LoyaltyCard (customer → orders.Customer) is not erased",
        "tickets.LoyaltyStamp (card → tickets.LoyaltyCard) is not in the data export",
        "tickets.LoyaltyStamp (card → tickets.LoyaltyCard) is not erased",
    ]


def test_the_allow_lists_name_real_models_and_fields():
    installed = {model._meta.label: model for model in apps.get_models()}
    found = personal_models(installed.values())
    for label, fields in PERSONAL_TEXT_FIELDS.items():
        assert label in installed, label
        for name in fields:
            installed[label]._meta.get_field(name)  # raises FieldDoesNotExist for a stale entry
    # A reason given for a model that no longer holds personal data, or that is now handled
    # anyway, is stale.
    for label in [*NOT_EXPORTED, *RETAINED_ON_ERASURE, *NO_PERSONAL_DATA]:
        assert label in found, f"{label} is allow-listed but refers to no customer"
    assert not set(NOT_EXPORTED) & EXPORTED_MODELS
    assert not set(RETAINED_ON_ERASURE) & ERASED_MODELS
    assert EXPORTED_MODELS <= found.keys() and ERASED_MODELS >= set()
