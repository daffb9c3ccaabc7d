"""The hooks the store's write paths call: which stock changes count as a restock."""

from __future__ import annotations

import base64
import json

import pytest

from orders.models import RestockEvent, RestockSubscription
from orders.notifications import restocks_detect
from orders.notifications.shipment import tracking_status_changed
from orders.services import variant_set_stock
from orders.tests.factories import CustomerFactory, VariantFactory
from supportbot.celery import app

pytestmark = pytest.mark.django_db


def _queued(queue: str) -> list[tuple[str, list]]:
    """(task name, args) of each message waiting in `queue` on the test broker."""
    with app.connection_for_write() as connection:
        raw = connection.default_channel.client.lrange(queue, 0, -1)
    messages = [json.loads(item) for item in raw]
    return [(message["headers"]["task"], json.loads(base64.b64decode(message["body"]))[0]) for message in messages]


@pytest.fixture
def empty_default_queue():
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete("default")
    yield
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete("default")


def test_set_stock_reports_only_a_change_from_zero_and_queues_dispatch_on_commit(
    django_capture_on_commit_callbacks, empty_default_queue
):
    variant = VariantFactory(stock_quantity=0)
    with django_capture_on_commit_callbacks(execute=True):
        variant_set_stock(item_id=variant.item_id, stock_quantity=4)
    with django_capture_on_commit_callbacks(execute=True):
        variant_set_stock(item_id=variant.item_id, stock_quantity=9)  # 4 -> 9: not a restock
    with django_capture_on_commit_callbacks(execute=True):
        variant_set_stock(item_id=variant.item_id, stock_quantity=0)  # sold out: not a restock
    event = RestockEvent.objects.get()
    assert (event.variant_id, event.previous_quantity, event.new_quantity) == (variant.pk, 0, 4)
    # Queued by name on the real broker, and routed to the default queue (not email: no mail yet).
    assert _queued("default") == [("orders.dispatch_restock_alerts", [event.pk])]


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


def test_a_mail_task_queued_by_name_is_routed_to_the_email_queue(django_capture_on_commit_callbacks):
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete("email")
    with django_capture_on_commit_callbacks(execute=True):
        tracking_status_changed(fulfillment_id=41, previous="", current="in_transit")
    assert _queued("email") == [("orders.send_shipment_update", [41, "in_transit"])]
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete("email")
