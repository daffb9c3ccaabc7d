"""Data rights: export everything about a customer; erase them while keeping the books.

`customer_data_export` gathers every row about the customer as one JSON-ready dict: profile
and login, login attempts (django-axes), payment methods, orders with items, shipments and
payments, carts, restock subscriptions and the email ledgers, conversations with messages,
pending turns, dialogue state, actions and feedback, tool audit rows, tickets with their
history, resolved-ticket documents quoting them, failed tasks naming them, and their WhatsApp
numbers with the events, messages and link codes — including the chat the number had as a
guest before it was linked.

`customer_anonymize` erases all of that in one transaction, except the accounting records
(orders, their items, payments and shipments, payment methods, self-service refunds), which
stay attached to the Customer row with its PII replaced.

Each export section and erasure step registers the model it handles (registry.py), and
EXPORTED_MODELS / ERASED_MODELS are derived from those registrations; the coverage test walks
every installed model against them.
"""

from __future__ import annotations

from tickets.data_rights.erasure import RETAINED_ON_ERASURE, customer_anonymize
from tickets.data_rights.export import EXPORT_VERSION, NOT_EXPORTED, customer_data_export
from tickets.data_rights.registry import PERSONAL_TEXT_FIELDS, erased_models, exported_models
from tickets.data_rights.subject import ErasureReport

EXPORTED_MODELS: frozenset[str] = frozenset(exported_models())
ERASED_MODELS: frozenset[str] = frozenset(erased_models())

__all__ = [
    "ERASED_MODELS",
    "EXPORTED_MODELS",
    "EXPORT_VERSION",
    "NOT_EXPORTED",
    "PERSONAL_TEXT_FIELDS",
    "RETAINED_ON_ERASURE",
    "ErasureReport",
    "customer_anonymize",
    "customer_data_export",
]
