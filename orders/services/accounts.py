"""Customer accounts: sign-up and the default address."""

from __future__ import annotations

import re
import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from orders.models import Customer
from orders.services._common import ADDRESS_FIELDS, clean_address
from supportbot.errors import NotFound


def _new_handle(*, first_name: str, last_name: str) -> str:
    base = (
        "_".join(
            part
            for part in (re.sub(r"[^a-z0-9]", "", first_name.lower()), re.sub(r"[^a-z0-9]", "", last_name.lower()))
            if part
        )
        or "customer"
    )
    while True:
        handle = f"{base}_{secrets.randbelow(9000) + 1000}"
        if not Customer.objects.filter(handle=handle).exists():
            return handle


@transaction.atomic
def customer_sign_up(*, email: str, first_name: str, last_name: str, password: str) -> Customer:
    """Create a login and its Customer profile together (both or neither)."""
    user_model = get_user_model()
    email = user_model.objects.normalize_email(email).lower()
    user = user_model.objects.create_user(
        username=email, email=email, password=password, first_name=first_name, last_name=last_name
    )
    return Customer.objects.create(
        user=user,
        handle=_new_handle(first_name=first_name, last_name=last_name),
        first_name=first_name,
        last_name=last_name,
        email=email,
    )


@transaction.atomic
def customer_login_ensure(*, customer: Customer) -> Customer:
    """Give `customer` a login (username = email, no usable password) when they have none.

    Stores imported from tau-bench files have customers without logins; a signed-in turn needs one.
    The person sets a password through the usual reset before signing in themselves.
    """
    if customer.user_id is not None:
        return customer
    user_model = get_user_model()
    username = user_model.objects.normalize_email(customer.email).lower() or customer.handle
    user = user_model.objects.filter(username=username, customer__isnull=True).first()
    if user is None:
        user = user_model.objects.create_user(
            username=username,
            email=customer.email,
            password=None,
            first_name=customer.first_name,
            last_name=customer.last_name,
        )
    customer.user = user
    customer.save(update_fields=["user"])
    return customer


@transaction.atomic
def customer_modify_address(
    *,
    handle: str,
    address1: str,
    address2: str,
    city: str,
    state: str,
    country: str,
    zip: str,  # noqa: A002
) -> Customer:
    """Change a customer's default address (existing orders keep theirs)."""
    address = clean_address(
        {"address1": address1, "address2": address2, "city": city, "state": state, "country": country, "zip": zip}
    )
    try:
        customer = Customer.objects.select_for_update().get(handle=handle)
    except Customer.DoesNotExist:
        raise NotFound(f"We couldn't find the customer account {handle}.") from None
    for key, value in address.items():
        setattr(customer, key, value)
    customer.save(update_fields=[*ADDRESS_FIELDS, "updated_at"])
    return customer
