"""The hooks the store's write paths call: which stock changes count as a restock."""

from __future__ import annotations

from unittest import mock

import pytest

from orders.models import RestockEvent, RestockSubscription
from orders.notifications import restocks_detect
from orders.services import variant_set_stock
from orders.tests.factories import CustomerFactory, VariantFactory

pytestmark = pytest.mark.django_db


def test_set_stock_reports_only_a_change_from_zero_and_queues_dispatch_on_commit(django_capture_on_commit_callbacks):
    variant = VariantFactory(stock_quantity=0)
    with mock.patch("orders.tasks.dispatch_restock_alerts.apply_async") as publish:
        with django_capture_on_commit_callbacks(execute=True):
            variant_set_stock(item_id=variant.item_id, stock_quantity=4)
        with django_capture_on_commit_callbacks(execute=True):
            variant_set_stock(item_id=variant.item_id, stock_quantity=9)  # 4 -> 9: not a restock
        with django_capture_on_commit_callbacks(execute=True):
            variant_set_stock(item_id=variant.item_id, stock_quantity=0)  # sold out: not a restock
    event = RestockEvent.objects.get()
    assert (event.variant_id, event.previous_quantity, event.new_quantity) == (variant.pk, 0, 4)
    publish.assert_called_once()
    assert publish.call_args.kwargs["args"] == [event.pk]


def test_bulk_writers_report_available_variants_that_customers_wait_for():
    waited_for = VariantFactory(stock_quantity=3)
    RestockSubscription.objects.create(customer=CustomerFactory(), variant=waited_for)
    still_out = VariantFactory(stock_quantity=0)
    RestockSubscription.objects.create(customer=CustomerFactory(), variant=still_out)
    nobody_waits = VariantFactory(stock_quantity=5)
    withdrawn = VariantFactory(stock_quantity=5, active=False)
    RestockSubscription.objects.create(customer=CustomerFactory(), variant=withdrawn)

    events = restocks_detect(variant_ids=[waited_for.pk, still_out.pk, nobody_waits.pk, withdrawn.pk])

    assert [(e.variant_id, e.new_quantity) for e in events] == [(waited_for.pk, 3)]
