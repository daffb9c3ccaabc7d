"""Signed links: one-click unsubscribe works, an altered link is refused."""

from __future__ import annotations

import pytest

from orders.models import EmailOptOut, RestockSubscription
from orders.notifications.links import unsubscribe_token
from orders.tests.factories import CustomerFactory, VariantFactory

pytestmark = pytest.mark.django_db


def _url(token: str) -> str:
    return f"/notifications/unsubscribe/{token}/"


def test_get_asks_for_confirmation_and_changes_nothing(client):
    customer = CustomerFactory()
    response = client.get(_url(unsubscribe_token(customer_id=customer.pk, kind="cart")))
    assert response.status_code == 200
    assert "cart reminders" in response.content.decode()
    assert not EmailOptOut.objects.exists()


def test_confirming_opts_out_once_and_closes_waiting_restock_subscriptions(client):
    customer = CustomerFactory()
    waiting = RestockSubscription.objects.create(customer=customer, variant=VariantFactory(stock_quantity=0))
    token = unsubscribe_token(customer_id=customer.pk, kind="restock")

    assert client.post(_url(token)).status_code == 200
    assert client.post(_url(token)).status_code == 200  # a second click is harmless

    assert list(EmailOptOut.objects.values_list("customer_id", "kind")) == [(customer.pk, "restock")]
    assert RestockSubscription.objects.get(pk=waiting.pk).status == "closed"


def test_rfc8058_one_click_post_from_a_mail_client_works_without_csrf(client):
    from django.test import Client

    customer = CustomerFactory()
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(
        _url(unsubscribe_token(customer_id=customer.pk, kind="cart")),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert EmailOptOut.objects.filter(customer=customer, kind="cart").exists()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature altered
        lambda token: (
            unsubscribe_token(customer_id=1, kind="cart").split(":")[0] + ":" + token.split(":", 1)[1]
        ),  # payload swapped
        lambda token: "not-a-token",
    ],
)
def test_a_tampered_link_is_refused_with_a_clear_message(client, tamper):
    victim = CustomerFactory()
    token = tamper(unsubscribe_token(customer_id=victim.pk, kind="restock"))

    for method in (client.get, client.post):
        response = method(_url(token))
        assert response.status_code == 400
        assert "not valid" in response.content.decode()
    assert not EmailOptOut.objects.exists()


def test_a_token_for_another_purpose_is_refused(client):
    from orders.notifications.links import cart_restore_token

    customer = CustomerFactory()
    token = cart_restore_token(cart_id=customer.pk, reminder_id=1)
    assert client.post(_url(token)).status_code == 400
    assert not EmailOptOut.objects.exists()
