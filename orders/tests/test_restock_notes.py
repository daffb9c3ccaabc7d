"""The portal side of a back-in-stock alert: a note on My orders, shown once, to its customer only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from orders.models import RestockEvent, RestockNotification, RestockSubscription
from orders.tests.factories import CustomerFactory, VariantFactory

pytestmark = pytest.mark.django_db


def customer_with_login(username: str):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "pw-notes-9-long")
    return CustomerFactory(user=user)


def sent_note(*, customer, variant) -> RestockNotification:
    subscription = RestockSubscription.objects.create(
        customer=customer, variant=variant, status=RestockSubscription.Status.CLOSED
    )
    event = RestockEvent.objects.create(variant=variant, previous_quantity=0, new_quantity=5)
    return RestockNotification.objects.create(
        subscription=subscription, event=event, customer=customer, status=RestockNotification.Status.SENT
    )


def test_a_sent_restock_alert_shows_once_on_my_orders_and_only_to_its_customer(client):
    mine, theirs = customer_with_login("notes_mine"), customer_with_login("notes_theirs")
    variant = VariantFactory(stock_quantity=5, options={"color": "teal", "size": "L"})
    other_variant = VariantFactory(stock_quantity=5)
    note = sent_note(customer=mine, variant=variant)
    sent_note(customer=theirs, variant=other_variant)

    client.force_login(mine.user)
    first = client.get(reverse("orders:list")).content.decode()
    assert first.count(variant.product.name) == 1
    assert "color: teal" in first and "size: L" in first
    assert f'href="{reverse("orders:product", args=[variant.product.product_id])}"' in first
    assert "Back in stock" in first
    assert other_variant.product.name not in first
    assert RestockNotification.objects.get(pk=note.pk).seen_at is not None

    again = client.get(reverse("orders:list")).content.decode()
    assert variant.product.name not in again
    assert "Back in stock" not in again

    # The other customer's note was never marked seen by someone else's visit.
    client.force_login(theirs.user)
    their_page = client.get(reverse("orders:list")).content.decode()
    assert other_variant.product.name in their_page
    assert variant.product.name not in their_page
