import io
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from orders.models import Cart, Customer, Fulfillment, Order, PaymentTransaction, Product, Variant
from supportbot import demo

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_a_believable_store_and_the_demo_customer_sees_every_status():
    call_command("seed_demo", verbosity=0, stdout=io.StringIO())
    assert Product.objects.count() >= 40
    assert Product.objects.values("product_type").distinct().count() >= 5
    assert Variant.objects.filter(stock_quantity=0).exists() and Variant.objects.filter(stock_quantity__gt=0).exists()
    assert Customer.objects.count() >= 51
    statuses = Counter(Order.objects.values_list("status", flat=True))
    assert set(statuses) == set(Order.Status.values)
    dana = Customer.objects.get(handle=demo.DEMO_CUSTOMER_HANDLE)
    assert set(dana.orders.values_list("status", flat=True)) == set(Order.Status.values)
    shipped = Order.objects.filter(status__in=["processed", "delivered", "return requested", "exchange requested"])
    assert not shipped.filter(fulfillments__isnull=True).exists()
    assert Fulfillment.objects.exclude(tracking_ids=[]).count() == Fulfillment.objects.count()
    cancelled = Order.objects.filter(status="cancelled")
    assert all(o.payments.filter(transaction_type="refund").exists() and o.cancel_reason for o in cancelled)
    assert not Order.objects.filter(status="exchange requested", exchange_items__isnull=True).exists()
    assert Cart.objects.filter(status="open").count() >= 3
    assert not PaymentTransaction.objects.filter(amount__lt=0).exists()


def test_only_if_empty_leaves_an_existing_store_alone_and_a_second_plain_run_is_refused():
    call_command("seed_demo", "--customers", "5", "--orders", "10", verbosity=0, stdout=io.StringIO())
    first = sorted(Order.objects.values_list("order_id", flat=True))
    out = io.StringIO()
    call_command("seed_demo", "--only-if-empty", stdout=out)
    assert "already has data" in out.getvalue()
    assert sorted(Order.objects.values_list("order_id", flat=True)) == first
    with pytest.raises(CommandError, match="already has products"):
        call_command("seed_demo", verbosity=0)
