"""Shipment updates: one email per tracking status change, through a real worker and SMTP."""

from __future__ import annotations

import pytest
from django.db import transaction

from orders.models import Fulfillment, ShipmentNotification
from orders.notifications import tracking_status_changed
from orders.tests.factories import OrderFactory
from orders.tests.mail_worker import MailWorker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def mail_worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        worker = MailWorker()
        worker.start()
    yield worker
    worker.stop()


def change_status(fulfillment: Fulfillment, status: str) -> None:
    with transaction.atomic():
        locked = Fulfillment.objects.select_for_update().get(pk=fulfillment.pk)
        previous = locked.tracking_status
        locked.tracking_status = status
        locked.save(update_fields=["tracking_status"])
        tracking_status_changed(fulfillment_id=locked.pk, previous=previous, current=status)


def test_each_status_change_mails_the_customer_once(mail_worker):
    mailbox = mail_worker.mailbox
    mailbox.reset()
    order = OrderFactory(status="processed")
    fulfillment = Fulfillment.objects.create(
        order=order, tracking_ids=["TRK123"], carrier="UPS", item_ids=[], tracking_status="label created"
    )

    change_status(fulfillment, "in transit")
    change_status(fulfillment, "in transit")  # no change: no email
    mailbox.wait_for(1)
    change_status(fulfillment, "out for delivery")
    # The same status reported again later (an import re-run) is not a new change for the customer.
    tracking_status_changed(fulfillment_id=fulfillment.pk, previous="label created", current="in transit")

    assert wait_until(lambda: ShipmentNotification.objects.filter(status="sent").count() == 2)
    messages = mailbox.wait_for(2)
    assert not wait_until(lambda: len(mailbox.messages) > 2, timeout=2)
    assert [m["To"] for m in messages] == [order.customer.email] * 2
    assert sorted(m["Subject"] for m in messages) == sorted(
        [f"Order {order.order_id}: in transit", f"Order {order.order_id}: out for delivery"]
    )
    assert "TRK123" in messages[0].get_payload()[0].get_payload(decode=True).decode()
