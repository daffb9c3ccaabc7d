"""Staff change a parcel's tracking status in the order admin: the customer gets one email."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from orders.models import Fulfillment, ShipmentNotification
from orders.tests.factories import OrderFactory
from orders.tests.mail_worker import MailWorker, wait_until

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class _FormFields(HTMLParser):
    """The fields a browser would submit from the page's main form (#order_form)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        if tag == "form" and attr.get("id") == "order_form":
            self._in_form = True
        if not self._in_form or not attr.get("name"):
            if tag == "option" and self._select is not None and "selected" in attr:
                self.data[self._select] = attr.get("value", "")
            return
        name = attr["name"]
        if tag == "input" and attr.get("type") not in ("submit", "button", "checkbox", "radio"):
            self.data[name] = attr.get("value", "")
        elif tag == "input" and attr.get("type") in ("checkbox", "radio") and "checked" in attr:
            self.data[name] = attr.get("value", "on")
        elif tag == "select":
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "textarea":
            self._textarea = name
            self.data[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.data[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


@pytest.fixture(scope="module")
def mail_worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        worker = MailWorker()
        worker.start()
    yield worker
    worker.stop()


def test_changing_the_tracking_status_in_the_order_admin_mails_the_customer_once(mail_worker, client):
    mailbox = mail_worker.mailbox
    mailbox.reset()
    order = OrderFactory(status="processed")
    fulfillment = Fulfillment.objects.create(
        order=order, tracking_ids=["TRK9"], carrier="UPS", item_ids=["1000000009"], tracking_status="label created"
    )
    staff = get_user_model().objects.create_superuser("ops9", "ops9@example.com", "pw-ops-9-long")
    client.force_login(staff)
    url = reverse("admin:orders_order_change", args=[order.pk])

    def post_with_status(status: str) -> None:
        page = client.get(url)
        assert page.status_code == 200
        fields = _FormFields()
        fields.feed(page.content.decode())
        assert (
            fields.data["fulfillments-0-tracking_status"] == Fulfillment.objects.get(pk=fulfillment.pk).tracking_status
        )
        fields.data["fulfillments-0-tracking_status"] = status
        response = client.post(url, fields.data)
        assert response.status_code == 302, response.context and response.context["errors"]

    post_with_status("in transit")
    assert Fulfillment.objects.get(pk=fulfillment.pk).tracking_status == "in transit"
    messages = mailbox.wait_for(1)
    post_with_status("in transit")  # saved again without a change: no second email

    assert wait_until(lambda: ShipmentNotification.objects.filter(fulfillment=fulfillment, status="sent").count() == 1)
    assert not wait_until(lambda: len(mailbox.messages) > 1, timeout=3)
    assert list(ShipmentNotification.objects.values_list("fulfillment_id", "tracking_status")) == [
        (fulfillment.pk, "in transit")
    ]
    assert [(m["To"], m["Subject"]) for m in messages] == [
        (order.customer.email, f"Order {order.order_id}: in transit")
    ]
