"""The person a data-rights request is about: every key their rows can be found by.

Collected once, before anything is deleted: an erasure step that runs after the conversations
are gone can still find the WhatsApp events that pointed at them (those point with SET_NULL).

A WhatsApp number chats as a guest customer until it is linked to an account, so the person
is the account plus the guests of their numbers — the number's chat before linking is theirs
too. A number counts as theirs when it is linked to them, or it is linked to nobody now and
wrote in one of their conversations (it was linked to them, then unlinked).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Q

from chat.models import Conversation
from orders.models import Customer, Order
from supportbot.errors import NotFound
from tickets.models import Ticket
from whatsapp.models import WhatsAppContact


@dataclass(frozen=True)
class Subject:
    customer: Customer
    # The customer and the WhatsApp guest customers of their numbers.
    customer_ids: frozenset[int]
    guest_customer_ids: frozenset[int]
    user_ids: frozenset[int]
    conversation_ids: frozenset[int]
    ticket_ids: frozenset[int]
    contact_ids: frozenset[int]
    # The WhatsApp numbers (digits only, as Meta sends them).
    phones: frozenset[str]
    # Names someone could type at the login form for this account (axes records them).
    login_names: frozenset[str]
    # Strings that identify the person in free text (failed-task arguments, resolved-ticket
    # documents): email, login, handle, phone numbers, order ids and ticket numbers.
    identifiers: frozenset[str]

    def mentioned_in(self, text: str) -> bool:
        """Whether `text` names this person (whole identifiers only: T-104 is not T-1042)."""
        return any(_identifier_pattern(identifier).search(text) for identifier in self.identifiers)


def _identifier_pattern(identifier: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@.+-]){re.escape(identifier)}(?![\w@-])", re.IGNORECASE)


@dataclass
class ErasureReport:
    customer_id: int
    deleted: Counter[str] = field(default_factory=Counter)
    anonymized: Counter[str] = field(default_factory=Counter)
    kept_orders: int = 0


def subject_for(*, customer_id: int, lock: bool = False) -> Subject:
    """Everything needed to find the customer's rows. With `lock`, the customer row is locked
    (the caller is in a transaction), so a concurrent chat turn or order write waits."""
    queryset = Customer.objects.select_for_update() if lock else Customer.objects.all()
    customer = queryset.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound(f"Customer {customer_id} does not exist.")

    own_conversations = Conversation.objects.filter(customer=customer)
    wrote_here = (
        Q(conversation__in=own_conversations)
        | Q(inbound_events__conversation__in=own_conversations)
        | Q(outbound_messages__conversation__in=own_conversations)
    )
    contacts = list(
        WhatsAppContact.objects.filter(
            Q(customer=customer) | Q(guest_customer=customer) | (Q(customer__isnull=True) & wrote_here)
        )
        .distinct()
        .values("pk", "phone", "guest_customer_id")
    )
    guest_ids = {row["guest_customer_id"] for row in contacts if row["guest_customer_id"] not in (None, customer.pk)}
    customer_ids = {customer.pk, *guest_ids}
    users = list(get_user_model().objects.filter(customer__pk__in=customer_ids).values_list("pk", "username", "email"))
    tickets = list(Ticket.objects.filter(customer_id__in=customer_ids).values_list("pk", "number"))
    order_ids = Order.objects.filter(customer_id__in=customer_ids).values_list("order_id", flat=True)

    login_names = {customer.email, *(name for _, username, email in users for name in (username, email))}
    identifiers = {
        customer.handle,
        *login_names,
        *(f"+{row['phone']}" for row in contacts),
        *(row["phone"] for row in contacts),
        *order_ids,
        *(number for _, number in tickets),
    }
    return Subject(
        customer=customer,
        customer_ids=frozenset(customer_ids),
        guest_customer_ids=frozenset(guest_ids),
        user_ids=frozenset(pk for pk, _, _ in users),
        conversation_ids=frozenset(
            Conversation.objects.filter(customer_id__in=customer_ids).values_list("pk", flat=True)
        ),
        ticket_ids=frozenset(pk for pk, _ in tickets),
        contact_ids=frozenset(row["pk"] for row in contacts),
        phones=frozenset(row["phone"] for row in contacts),
        login_names=frozenset(name for name in login_names if name),
        # Short strings would match unrelated text; every real identifier is longer.
        identifiers=frozenset(value for value in identifiers if value and len(value) >= 5),
    )
