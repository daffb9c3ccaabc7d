"""Customers' choices about which emails they get."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from orders.models import Customer, EmailOptOut, RestockSubscription
from supportbot.errors import NotFound


@transaction.atomic
def email_opt_out_create(*, customer_id: int, kind: str) -> EmailOptOut:
    """Stop emails of `kind` to the customer. Idempotent: a second click changes nothing.

    Opting out of back-in-stock alerts also closes the customer's waiting subscriptions, so
    nothing is left that could mail them.
    """
    customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
    if customer is None:
        raise NotFound("We couldn't find the account this link was sent to.")
    opt_out, _ = EmailOptOut.objects.get_or_create(customer=customer, kind=kind)
    if kind == EmailOptOut.Kind.RESTOCK:
        RestockSubscription.objects.filter(customer=customer, status=RestockSubscription.Status.ACTIVE).update(
            status=RestockSubscription.Status.CLOSED, closed_at=timezone.now()
        )
    return opt_out


def email_opted_out(*, customer_id: int, kind: str) -> bool:
    return EmailOptOut.objects.filter(customer_id=customer_id, kind=kind).exists()
